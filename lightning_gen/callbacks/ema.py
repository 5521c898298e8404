"""EMA of the weights with the usual warm-up (the decay grows with the number of updates).

Lightning's ``EMAWeightAveraging`` starts its average from a copy of the weights after the first
step and uses the full ``decay`` from then on, so after ``n`` updates the random initial weights
still carry ``decay ** n`` of the average (decay 0.999 after 3,000 steps: 5 %; 0.995 after 400:
13 %, enough to ruin a short run's samples). ``WarmupEMAWeightAveraging`` uses, at the ``n``-th
update, ``min(decay, (1 + n) / (10 + n))`` (the schedule of TensorFlow's
``ExponentialMovingAverage(num_updates=...)`` and of diffusers' ``EMAModel``): early on the average
follows the weights closely, and it reaches ``decay`` after ``(10 decay - 1) / (1 - decay)``
updates (0.995: 1,790; 0.999: 8,990). ``warmup=False`` is Lightning's plain EMA.
Everything else (swapping the averaged weights in for validation, test and checkpoints, resume)
is Lightning's.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from lightning.pytorch.callbacks import EMAWeightAveraging

from lightning_gen.errors import ConfigError


def warmup_decay(decay: float, num_updates: int | torch.Tensor) -> float | torch.Tensor:
    """The decay used at update ``num_updates`` (1 = the first average after the initial copy)."""
    n = num_updates
    return (
        torch.clamp((1 + n) / (10 + n), max=decay)
        if torch.is_tensor(n)
        else min(decay, (1 + n) / (10 + n))
    )


def _ema_update(
    averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor, *, decay: float
) -> torch.Tensor:
    # the decay in at least float32: cast to bf16, 0.999 would round to 1.0 and freeze the average
    d = warmup_decay(decay, num_averaged.to(torch.float64))
    d = d.to(torch.promote_types(averaged.dtype, torch.float32))
    return d * averaged + (1 - d) * current  # AveragedModel copies it back in averaged's dtype


class WarmupEMAWeightAveraging(EMAWeightAveraging):
    """Lightning's EMA weight averaging with the decay warm-up described in the module docstring."""

    def __init__(self, decay: float = 0.999, warmup: bool = True, **kwargs: Any) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(
                f"ema decay={decay} must be in (0, 1), e.g. callbacks.ema.decay=0.999"
            )
        super().__init__(decay=decay, **kwargs)
        self.decay, self.warmup = float(decay), bool(warmup)
        if self.warmup:  # AveragedModel calls avg_fn(averaged, current, num_averaged) per tensor
            self._kwargs["avg_fn"] = functools.partial(_ema_update, decay=self.decay)
