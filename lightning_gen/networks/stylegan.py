"""A small style-based generator (StyleGAN2-like): mapping network, modulated convolutions with
weight demodulation, per-layer noise inputs and a learned constant input.

Simplifications for 28-64 px images: no equalised learning rate, no skip/residual outputs, one
style vector for every layer (no style mixing), no truncation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lightning_gen.networks.conv import check_downsampling


class MappingNetwork(nn.Module):
    """``z (B, latent_dim)`` [+ labels] -> style ``w (B, w_dim)``: pixel-norm then an MLP."""

    def __init__(self, latent_dim: int, w_dim: int, layers: int = 4, num_classes: int = 0) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes > 0 else None
        dims = [latent_dim * (2 if self.embed is not None else 1)] + [w_dim] * layers
        mlp: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            mlp += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.mlp = nn.Sequential(*mlp)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        if self.embed is not None:
            e = self.embed(labels)
            z = torch.cat([z, e * torch.rsqrt(e.pow(2).mean(1, keepdim=True) + 1e-8)], 1)
        return self.mlp(z)  # (B, w_dim)


class ModulatedConv(nn.Module):
    """Conv whose input channels are scaled per sample by an affine map of ``w`` (style modulation);
    ``demodulate`` rescales each output filter to unit norm. ``(B, I, H, W), (B, w_dim) -> (B, O, H, W)``.
    """

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.affine = nn.Linear(w_dim, in_ch)
        nn.init.ones_(self.affine.bias)
        self.scale, self.demodulate, self.pad = (
            1 / math.sqrt(in_ch * kernel * kernel),
            demodulate,
            kernel // 2,
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, c, h, wd = x.shape
        s = self.affine(w)  # (B, I)
        weight = self.scale * self.weight[None] * s[:, None, :, None, None]  # (B, O, I, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum((2, 3, 4), keepdim=True) + 1e-8)
        out = F.conv2d(x.reshape(1, b * c, h, wd), weight.flatten(0, 1), padding=self.pad, groups=b)
        return out.view(b, -1, h, wd) + self.bias[None, :, None, None]


class NoiseInput(nn.Module):
    """Adds per-pixel Gaussian noise scaled by a learned per-channel weight (starts at 0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight * torch.randn_like(x[:, :1])


class StyleLayer(nn.Module):
    """Modulated 3x3 conv -> noise -> LeakyReLU."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int) -> None:
        super().__init__()
        self.conv, self.noise, self.act = (
            ModulatedConv(in_ch, out_ch, 3, w_dim),
            NoiseInput(out_ch),
            nn.LeakyReLU(0.2),
        )

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.act(self.noise(self.conv(x, w)))


class StyleGenerator(nn.Module):
    """``z (B, latent_dim)`` [+ labels] -> images ``(B, C, S, S)`` (unbounded; callers clamp).

    Constant ``widths[-1] x s x s`` input, one style layer at that size, then per width (reversed)
    a 2x nearest upsample and two style layers; a modulated 1x1 to-RGB without demodulation.
    """

    def __init__(
        self,
        latent_dim: int,
        out_channels: int,
        image_size: int,
        widths: Sequence[int],
        num_classes: int = 0,
        w_dim: int | None = None,
        mapping_layers: int = 4,
    ) -> None:
        super().__init__()
        side = check_downsampling(image_size, len(widths))
        w_dim = w_dim or latent_dim
        rev = list(widths)[::-1]
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, num_classes)
        self.const = nn.Parameter(torch.randn(1, rev[0], side, side))
        self.first = StyleLayer(rev[0], rev[0], w_dim)
        self.blocks = nn.ModuleList(
            nn.ModuleList([StyleLayer(a, b, w_dim), StyleLayer(b, b, w_dim)])
            for a, b in zip(rev, rev[1:] + [rev[-1]], strict=True)
        )
        self.to_rgb = ModulatedConv(rev[-1], out_channels, 1, w_dim, demodulate=False)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        w = self.mapping(z, labels)  # (B, w_dim)
        x = self.first(self.const.expand(len(z), -1, -1, -1), w)  # (B, W, s, s)
        for up, same in self.blocks:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = same(up(x, w), w)  # (B, W', 2h, 2w)
        return self.to_rgb(x, w)  # (B, C, S, S)
