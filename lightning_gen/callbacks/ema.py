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
from torch.optim.swa_utils import get_ema_multi_avg_fn

from lightning_gen.errors import ConfigError


def warmup_decay(decay: float, num_updates: int) -> float:
    """The decay used at update ``num_updates`` (1 = the first average after the initial copy)."""
    return min(decay, (1 + num_updates) / (10 + num_updates))


def _ema_update(
    averaged: list[torch.Tensor],
    current: list[torch.Tensor],
    num_averaged: torch.Tensor,
    *,
    decay: float,
) -> None:
    """torch's own EMA update of one group of tensors (one ``_foreach_lerp_`` per device and dtype)
    at this update's warm-up decay; reading the count costs one host sync per group and update."""
    step = get_ema_multi_avg_fn(warmup_decay(decay, int(num_averaged)))
    step(averaged, current, num_averaged)


class WarmupEMAWeightAveraging(EMAWeightAveraging):
    """Lightning's EMA weight averaging with the decay warm-up described in the module docstring."""

    def __init__(self, decay: float = 0.999, warmup: bool = True, **kwargs: Any) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(
                f"ema decay={decay} must be in (0, 1), e.g. callbacks.ema.decay=0.999"
            )
        super().__init__(decay=decay, **kwargs)
        self.decay, self.warmup = float(decay), bool(warmup)
        if self.warmup:  # AveragedModel calls multi_avg_fn(averaged, current, n) per tensor group
            self._kwargs.pop("avg_fn")
            self._kwargs["multi_avg_fn"] = functools.partial(_ema_update, decay=self.decay)
