"""The one place that rescales images: ``[-1, 1]`` floats <-> ``uint8``, and PNG grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lightning_gen.fileio import atomic_write


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Map float images ``(B, C, H, W)`` in ``[-1, 1]`` to ``uint8`` in ``[0, 255]`` (clamped, rounded)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit_interval(x: torch.Tensor) -> torch.Tensor:
    """Map float images in ``[-1, 1]`` to float32 in ``[0, 1]`` (clamped), for metrics with data range 1."""
    return (x.detach().float().clamp(-1, 1) + 1) / 2


def from_uint8(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Map ``uint8`` images in ``[0, 255]`` to float32 in ``[-1, 1]`` (same layout)."""
    x = torch.as_tensor(x)
    return x.float() / 127.5 - 1.0


def make_grid(x: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile images ``(B, C, H, W)`` in ``[-1, 1]`` into one ``uint8`` array ``(H', W', C)``.

    ``nrow`` images per row (default: a near-square grid). C is 1 or 3.
    """
    b, c, h, w = x.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(b)))
    ncol = math.ceil(b / nrow)
    imgs = to_uint8(x).permute(0, 2, 3, 1).cpu().numpy()  # (B, H, W, C)
    grid = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, np.uint8)
    for i in range(b):
        r, k = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top : top + h, left : left + w] = imgs[i]
    return grid


def save_grid(x: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Write images ``(B, C, H, W)`` in ``[-1, 1]`` as one PNG grid; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = make_grid(x, nrow)
    with atomic_write(path, "wb") as f:  # a kill mid-write never leaves half a PNG
        Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(
            f, format="PNG", compress_level=1
        )  # zlib level 1: 1.7x faster to write than the default 6, files ~4 % larger
    return path
