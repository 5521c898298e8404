"""DCGAN generator and discriminator, optionally class-conditional (projection discriminator).

Square images whose side is divisible by ``2**len(widths)`` (28 px with two widths: 7 -> 14 -> 28).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import spectral_norm as sn

from lightning_gen.networks.conv import check_downsampling


class DCGANGenerator(nn.Module):
    """``z (B, latent_dim)`` [+ labels ``(B,)``] -> images ``(B, C, S, S)`` in ``[-1, 1]`` (tanh).

    Linear to ``widths[-1] x s x s``, then stride-2 transposed convs with BatchNorm + ReLU.
    With ``num_classes > 0`` a learned label embedding is concatenated to ``z``.
    """

    def __init__(
        self,
        latent_dim: int,
        out_channels: int,
        image_size: int,
        widths: Sequence[int],
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.side = check_downsampling(image_size, len(widths))
        rev = list(widths)[::-1]
        self.start = rev[0]
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes > 0 else None
        in_dim = latent_dim * (2 if self.embed is not None else 1)
        self.fc = nn.Sequential(
            nn.Linear(in_dim, rev[0] * self.side**2),
            nn.BatchNorm1d(rev[0] * self.side**2),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        for w_in, w_out in zip(rev, rev[1:] + [rev[-1] // 2], strict=True):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1), nn.BatchNorm2d(w_out), nn.ReLU()]
        layers += [nn.Conv2d(rev[-1] // 2, out_channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)  # (B, 2D)
        h = self.fc(z).view(-1, self.start, self.side, self.side)  # (B, W, s, s)
        return self.net(h)  # (B, C, S, S)


class DCGANDiscriminator(nn.Module):
    """Images ``(B, C, S, S)`` [+ labels] -> logits ``(B,)``; stride-2 convs + LeakyReLU, no batch norm
    (so per-sample gradient penalties are valid). With ``num_classes > 0`` it is a projection
    discriminator: ``logit = w.h + <embed(y), h>`` (Miyato & Koyama 2018).
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        widths: Sequence[int],
        num_classes: int = 0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        side = check_downsampling(image_size, len(widths))
        wrap = sn if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        ch = in_channels
        for w in widths:
            layers += [wrap(nn.Conv2d(ch, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
            ch = w
        self.features = nn.Sequential(*layers)
        feat = ch * side * side
        self.head = wrap(nn.Linear(feat, 1))
        self.embed = None
        if (
            num_classes > 0
        ):  # init at the scale of the linear head, so the projection does not dominate
            embed = nn.Embedding(num_classes, feat)
            nn.init.uniform_(embed.weight, -(feat**-0.5), feat**-0.5)
            self.embed = wrap(embed)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x).flatten(1)  # (B, F)
        out = self.head(h).squeeze(1)  # (B,)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(1)
        return out
