"""Reconstruction losses on images in ``[-1, 1]``: ``loss(x_hat, x) -> per-image (B,)``."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image ``(B,)``."""
    return (x_hat - x).pow(2).flatten(1).mean(1)


def l1(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image ``(B,)``."""
    return (x_hat - x).abs().flatten(1).mean(1)


def bce(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per image ``(B,)`` treating ``(v + 1) / 2`` as pixel probability."""
    p = ((x_hat + 1) / 2).clamp(1e-6, 1 - 1e-6)
    t = ((x + 1) / 2).clamp(0, 1)
    return F.binary_cross_entropy(p, t, reduction="none").flatten(1).mean(1)


RECONSTRUCTION_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse,
    "l1": l1,
    "bce": bce,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Look up a reconstruction loss by name; raise a clear error naming the valid choices."""
    from lightning_gen.errors import ConfigError

    if name not in RECONSTRUCTION_LOSSES:
        raise ConfigError(
            f"model.loss={name!r} is not a reconstruction loss; choose one of {sorted(RECONSTRUCTION_LOSSES)}"
        )
    return RECONSTRUCTION_LOSSES[name]
