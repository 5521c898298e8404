"""Helpers shared by the analyses: contract calls with an optional condition, PSNR, batch iteration.

Everything goes through the contracts (``encode``, ``reconstruct`` and ``decode`` where a model
has it); no analysis reads a model's hyper-parameters. Images are ``(B, C, H, W)`` in ``[-1, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch

from lightning_gen.contracts import call_with_condition, takes_condition
from lightning_gen.errors import ConfigError

Batch = tuple[torch.Tensor, "torch.Tensor | None"]


@runtime_checkable
class CanDecode(Protocol):
    """A model with a decoder: ``decode(z) -> (B, C, H, W)`` in ``[-1, 1]`` from codes ``(B, D)``."""

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


def model_device(model: Any) -> torch.device:
    """The device of a model's parameters (CPU for a parameter-free model)."""
    p = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return p.device if p is not None else torch.device("cpu")


def encode(model: Any, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Latent codes ``(B, D)`` of images ``(B, C, H, W)``; passes ``condition=y`` when the model takes one."""
    return call_with_condition(model.encode, x, y)


def decode(model: Any, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Images ``(B, C, H, W)`` in ``[-1, 1]`` from codes ``(B, D)``; ``condition=y`` when taken."""
    if not isinstance(model, CanDecode):
        raise ConfigError(
            f"{type(model).__name__} has no decode(z); this analysis needs a model with a decoder"
        )
    return call_with_condition(model.decode, z, y)


def reconstruct(model: Any, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """``model.reconstruct(x)`` ``(B, C, H, W)``, with ``condition=y`` for conditional models."""
    return call_with_condition(model.reconstruct, x, y)


def needs_condition(model: Any) -> bool:
    """True if the model's ``reconstruct`` takes a ``condition`` (a conditional model)."""
    return takes_condition(model.reconstruct)


def batches(
    loader: Iterable, device: torch.device, max_images: int | None = None
) -> Iterator[Batch]:
    """Yield ``(x, y)`` batches moved to ``device``, stopping after ``max_images`` images in total."""
    seen = 0
    for x, y in loader:
        if max_images is not None:
            if seen >= max_images:
                return
            x, y = x[: max_images - seen], (None if y is None else y[: max_images - seen])
        seen += len(x)
        yield x.to(device), (None if y is None else y.to(device))


def squared_error_sum(a: torch.Tensor, b: torch.Tensor) -> tuple[float, int]:
    """Sum of squared differences of images in ``[-1, 1]`` measured in ``[0, 1]`` units, and the count."""
    d = (a.float().clamp(-1, 1) - b.float().clamp(-1, 1)) / 2  # [0, 1] units
    return float(d.pow(2).sum()), d.numel()


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for data range 1: ``10 log10(1 / mse)`` (``inf`` for a perfect match)."""
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)


class PSNRMeter:
    """Split-level PSNR like torchmetrics' ``PeakSignalNoiseRatio(data_range=1)`` on ``[0, 1]`` images:
    the squared errors of every pixel are pooled, then ``10 log10(1 / mse)``.
    """

    def __init__(self) -> None:
        self.sse, self.count = 0.0, 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch of predictions and targets ``(B, C, H, W)`` in ``[-1, 1]``."""
        sse, n = squared_error_sum(pred, target)
        self.sse, self.count = self.sse + sse, self.count + n

    @property
    def mse(self) -> float:
        """Pooled mean squared error in ``[0, 1]`` units."""
        return self.sse / max(self.count, 1)

    @property
    def psnr(self) -> float:
        """PSNR in dB of everything seen so far."""
        return psnr_from_mse(self.mse)
