"""Small helpers shared by callbacks: calling contract methods with an optional condition."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import lightning as L
import torch


def takes_condition(fn: Callable) -> bool:
    """True if ``fn`` accepts a ``condition`` argument (conditional models)."""
    try:
        return "condition" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def call_with_condition(fn: Callable, x: Any, condition: torch.Tensor | None) -> torch.Tensor:
    """Call ``fn(x, condition=...)`` when it takes a condition and one is given, else ``fn(x)``."""
    if condition is not None and takes_condition(fn):
        return fn(x, condition=condition)
    return fn(x)


class PeriodicWriter(L.Callback):
    """Base for callbacks that write pictures: calls ``write(trainer, pl_module, tag)`` after every
    ``every_n_epochs``-th validation epoch (tag ``epoch<E>``, not during the sanity check) and after
    test (tag ``test``). Subclasses set ``every_n_epochs`` and implement ``write``."""

    every_n_epochs: int = 1

    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> Any:
        raise NotImplementedError

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        self.write(trainer, pl_module, f"epoch{trainer.current_epoch:03d}")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.write(trainer, pl_module, "test")
