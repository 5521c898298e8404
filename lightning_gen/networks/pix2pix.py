"""Pix2Pix networks: a U-Net generator and a PatchGAN discriminator (Isola et al. 2017).

Square images whose side is divisible by ``2**len(widths)``; InstanceNorm everywhere (no running
statistics, so train and eval behave the same apart from dropout).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lightning_gen.networks.conv import check_downsampling


class UNetGenerator(nn.Module):
    """Source ``(B, Cin, S, S)`` -> target ``(B, Cout, S, S)`` in ``[-1, 1]`` (tanh).

    One stride-2 conv per width down, mirrored transposed convs up with skip connections
    (concatenation); ``dropout`` on the innermost up blocks (pix2pix's noise source).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int,
        widths: Sequence[int],
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_downsampling(image_size, len(widths))
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList()
        ch = widths[0]
        for w in widths:
            self.downs.append(
                nn.Sequential(
                    nn.Conv2d(ch, w, 4, 2, 1), nn.InstanceNorm2d(w, affine=True), nn.LeakyReLU(0.2)
                )
            )
            ch = w
        self.ups = nn.ModuleList()
        skips = [widths[0]] + list(
            widths[:-1]
        )  # channels of the skip at each up level (reversed below)
        for i, (w, skip) in enumerate(zip(reversed(widths), reversed(skips), strict=True)):
            in_ch = w if i == 0 else 2 * w
            layers = [
                nn.ConvTranspose2d(in_ch, skip, 4, 2, 1),
                nn.InstanceNorm2d(skip, affine=True),
                nn.ReLU(),
            ]
            if dropout > 0 and i < 2:
                layers.append(nn.Dropout(dropout))
            self.ups.append(nn.Sequential(*layers))
        self.head = nn.Sequential(nn.Conv2d(2 * widths[0], out_channels, 3, 1, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)  # (B, w0, S, S)
        skips = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()  # the innermost feature map is the input of the first up block
        for up in self.ups:
            h = torch.cat([up(h), skips.pop()], 1)  # (B, 2*skip, 2h, 2w)
        return self.head(h)  # (B, Cout, S, S)


class PatchDiscriminator(nn.Module):
    """``(B, Cin, S, S)`` -> patch logits ``(B, 1, S / 2**len(widths), ...)``: each logit judges one
    receptive field (PatchGAN). Pix2Pix feeds ``cat(source, target)``; CycleGAN one image."""

    def __init__(self, in_channels: int, image_size: int, widths: Sequence[int]) -> None:
        super().__init__()
        check_downsampling(image_size, len(widths))
        layers: list[nn.Module] = []
        ch = in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(ch, w, 4, 2, 1)]
            layers += [nn.InstanceNorm2d(w, affine=True)] if i > 0 else []
            layers += [nn.LeakyReLU(0.2)]
            ch = w
        layers += [
            nn.Conv2d(ch, ch, 3, 1, 1),
            nn.InstanceNorm2d(ch, affine=True),
            nn.LeakyReLU(0.2),
        ]
        layers += [nn.Conv2d(ch, 1, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1, s, s)
