"""Time- and class-conditioned denoisers: a small U-Net for images and an MLP for vectors (latents, 2-D toys).

Both are called ``net(x, t, y=None)`` with timesteps ``t`` ``(B,)`` and labels ``y`` ``(B,)`` where
``y = num_classes`` (or ``None``) is the "no label" token classifier-free guidance needs. The
U-Net also takes an optional image condition ``cond`` ``(B, cond_channels, H, W)`` concatenated to
its input (super-resolution: the upsampled low-res image).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lightning_gen.errors import ConfigError


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``(B, dim)`` of (integer or float) timesteps ``(B,)``."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([args.cos(), args.sin()], 1)
    return F.pad(emb, (0, dim % 2))


class Conditioning(nn.Module):
    """Timestep (+ optional class label) -> embedding ``(B, dim)``; label ``num_classes`` means none."""

    def __init__(self, dim: int, num_classes: int = 0) -> None:
        super().__init__()
        self.dim, self.num_classes = dim, num_classes
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes > 0 else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.dim))
        if self.label is not None:
            y = torch.full_like(t, self.num_classes) if y is None else y
            emb = emb + self.label(y.long())
        return emb


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the embedding added in between; 1x1 skip when widths differ."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = (
            nn.GroupNorm(min(8, c_in), c_in),
            nn.Conv2d(c_in, c_out, 3, padding=1),
        )
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = (
            nn.GroupNorm(min(8, c_out), c_out),
            nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a (small) feature map, residual."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm, self.qkv, self.out = (
            nn.GroupNorm(min(8, c), c),
            nn.Conv2d(c, 3 * c, 1),
            nn.Conv2d(c, c, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = (
            self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)
        )  # (B, HW, C) each
        a = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(a.transpose(1, 2).reshape(b, c, h, w))


class UNet(nn.Module):
    """``(B, C, S, S)`` -> ``(B, C, S, S)``: one resolution level per entry of ``widths``.

    ``S`` must be divisible by ``2 ** (len(widths) - 1)``; ``attention`` adds self-attention at the
    lowest resolution.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        widths: Sequence[int] = (32, 64),
        num_res_blocks: int = 1,
        num_classes: int = 0,
        cond_channels: int = 0,
        attention: bool = True,
    ) -> None:
        super().__init__()
        levels = len(widths)
        if levels < 1 or image_size % 2 ** (levels - 1):
            raise ConfigError(
                f"image size {image_size} is not divisible by 2**{levels - 1} (len(model.widths)={levels}); "
                "use fewer widths or resize the data (data.source.image_size)"
            )
        emb_dim = 4 * widths[0]
        self.cond = Conditioning(emb_dim, num_classes)
        self.conv_in = nn.Conv2d(in_channels + cond_channels, widths[0], 3, padding=1)
        self.down, chans, ch = nn.ModuleList(), [widths[0]], widths[0]
        for i, w in enumerate(widths):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(ch, w, emb_dim))
                ch = w
                chans.append(ch)
            if i < levels - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                chans.append(ch)
        self.mid1, self.mid2 = ResBlock(ch, ch, emb_dim), ResBlock(ch, ch, emb_dim)
        self.attn = SelfAttention(ch) if attention else nn.Identity()
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(ch + chans.pop(), w, emb_dim))
                ch = w
            if i > 0:
                self.up.append(
                    nn.Sequential(
                        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1)
                    )
                )
        self.out = nn.Sequential(
            nn.GroupNorm(min(8, ch), ch), nn.SiLU(), nn.Conv2d(ch, in_channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        emb = self.cond(t, y)  # (B, E)
        h = self.conv_in(x if cond is None else torch.cat([x, cond], 1))
        skips = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for layer in self.up:
            h = (
                layer(torch.cat([h, skips.pop()], 1), emb)
                if isinstance(layer, ResBlock)
                else layer(h)
            )
        return self.out(h)  # (B, C, S, S)


class MLPDenoiser(nn.Module):
    """``(B, D)`` -> ``(B, D)``: residual MLP with the time/label embedding added to every block."""

    def __init__(self, dim: int, hidden: int = 256, depth: int = 3, num_classes: int = 0) -> None:
        super().__init__()
        self.cond = Conditioning(hidden, num_classes)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(hidden),
                nn.Linear(hidden, hidden),
                nn.SiLU(),
                nn.Linear(hidden, hidden),
            )
            for _ in range(depth)
        )
        self.outp = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, dim))

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        emb = self.cond(t, y)  # (B, hidden)
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h + emb)
        return self.outp(h)  # (B, D)
