"""CycleGAN's ResNet generator (Zhu et al. 2017): downsample, residual blocks, upsample.

Discriminators are ``networks.pix2pix.PatchDiscriminator`` on a single image.
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_gen.networks.conv import check_downsampling


class ResidualBlock(nn.Module):
    """``x + conv-norm-relu-conv-norm(x)`` at constant shape ``(B, C, H, W)``."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, 1, 1, padding_mode="reflect"),
            nn.InstanceNorm2d(ch, affine=True),
            nn.ReLU(),
            nn.Conv2d(ch, ch, 3, 1, 1, padding_mode="reflect"),
            nn.InstanceNorm2d(ch, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image ``(B, Cin, S, S)`` -> image ``(B, Cout, S, S)`` in ``[-1, 1]`` (tanh).

    7x7 stem of ``width`` channels, ``downsamples`` stride-2 convs (doubling channels),
    ``blocks`` residual blocks, mirrored transposed convs, 7x7 head.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        image_size: int,
        width: int = 32,
        downsamples: int = 2,
        blocks: int = 4,
    ) -> None:
        super().__init__()
        check_downsampling(image_size, downsamples)
        norm = lambda c: nn.InstanceNorm2d(c, affine=True)  # noqa: E731
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 7, 1, 3, padding_mode="reflect"),
            norm(width),
            nn.ReLU(),
        ]
        ch = width
        for _ in range(downsamples):
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1), norm(2 * ch), nn.ReLU()]
            ch *= 2
        layers += [ResidualBlock(ch) for _ in range(blocks)]
        for _ in range(downsamples):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), norm(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.Conv2d(ch, out_channels, 7, 1, 3, padding_mode="reflect"), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
