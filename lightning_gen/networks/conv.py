"""Convolutional encoder and decoder for square images whose side is divisible by ``2**len(widths)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lightning_gen.errors import ConfigError


def check_downsampling(image_size: int, levels: int) -> int:
    """Return the side after ``levels`` halvings; raise a ConfigError if it does not divide."""
    if image_size % (2**levels) != 0:
        ok = [n for n in range(1, 6) if image_size % (2**n) == 0]
        raise ConfigError(
            f"image size {image_size} is not divisible by 2**{levels} (len(model.widths)={levels}); "
            f"use {ok[-1] if ok else 0} or fewer widths, or resize the data (data.source.image_size)"
        )
    return image_size // 2**levels


class ConvEncoder(nn.Module):
    """``(B, C, S, S)`` -> ``(B, out_dim)``: stride-2 conv blocks then a linear head."""

    def __init__(
        self, in_channels: int, image_size: int, widths: Sequence[int], out_dim: int
    ) -> None:
        super().__init__()
        side = check_downsampling(image_size, len(widths))
        layers, ch = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(ch, w, 4, 2, 1), nn.GroupNorm(min(8, w), w), nn.SiLU()]
            ch = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch * side * side, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (B, out_dim)


class ConvDecoder(nn.Module):
    """``(B, in_dim)`` -> ``(B, C, S, S)`` in ``[-1, 1]`` (tanh): linear then stride-2 transposed convs."""

    def __init__(
        self, in_dim: int, out_channels: int, image_size: int, widths: Sequence[int]
    ) -> None:
        super().__init__()
        self.side = check_downsampling(image_size, len(widths))
        rev = list(widths)[::-1]
        self.start = rev[0]
        self.fc = nn.Linear(in_dim, rev[0] * self.side * self.side)
        layers = []
        for w_in, w_out in zip(rev, rev[1:] + [rev[-1]], strict=True):
            layers += [
                nn.SiLU(),
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1),
                nn.GroupNorm(min(8, w_out), w_out),
            ]
        layers += [nn.SiLU(), nn.Conv2d(rev[-1], out_channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.start, self.side, self.side)  # (B, W, s, s)
        return self.net(h)  # (B, C, S, S)
