"""Stop a run as soon as a logged ``train/*`` loss or metric (or ``val/loss``) is NaN or infinite.

The message names the step, the key and value, and the last good checkpoint. That checkpoint is
kept: no checkpoint is written after the divergence (``DivergenceError`` is raised before the
checkpoint callbacks see the batch), and ``last.ckpt`` therefore still holds finite weights.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lightning_gen.errors import LgenError


def clip_hint(trainer: L.Trainer) -> str:
    """The gradient-clipping knob that applies: Lightning's for automatic optimisation; the
    model's own ``grad_clip`` for manual optimisation (GANs), where Lightning's raises."""
    module = trainer.lightning_module
    if module is not None and not module.automatic_optimization:
        return "model.grad_clip=1.0; trainer.gradient_clip_val does not apply to GANs"
    return "trainer.gradient_clip_val=1.0"


class DivergenceError(LgenError):
    """Training produced a non-finite loss or metric."""


def _non_finite(metrics: dict[str, Any], prefixes: tuple[str, ...]) -> tuple[str, float] | None:
    for key, value in metrics.items():
        if not key.startswith(prefixes):
            continue
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        if isinstance(value, (int, float)) and not math.isfinite(value):
            return key, float(value)
    return None


def _this_step_metrics(trainer: L.Trainer) -> dict[str, Any]:
    """Values logged during the current batch (``callback_metrics`` is only refreshed after the hooks)."""
    try:
        return {**trainer.callback_metrics, **trainer._results.metrics(True)["callback"]}
    except (AttributeError, KeyError, TypeError):
        return dict(trainer.callback_metrics)


def last_good_checkpoint(trainer: L.Trainer) -> str | None:
    """The newest checkpoint already on disk (``last.ckpt`` if present), or None."""
    ckpt = trainer.checkpoint_callback
    folder = getattr(ckpt, "dirpath", None)
    if not folder or not Path(folder).is_dir():
        return None
    files = sorted(
        Path(folder).glob("*.ckpt"), key=lambda p: (p.name != "last.ckpt", -p.stat().st_mtime)
    )
    return str(files[0]) if files else None


class DivergenceGuard(L.Callback):
    """Raise ``DivergenceError`` on the first non-finite ``train/*`` value (each batch) or ``val_keys`` value.

    Only the validation *loss* is watched by default: some metrics are legitimately infinite
    (``val/psnr`` of a perfect reconstruction) or undefined on tiny sets.

    ``check_loss`` also checks the value returned by ``training_step`` (manual-optimisation GANs
    that log ``train/d_loss``/``train/g_loss`` are covered by the ``train/`` prefix).
    """

    def __init__(
        self,
        prefixes: list[str] | tuple[str, ...] = ("train/",),
        val_keys: list[str] | tuple[str, ...] = ("val/loss",),
        check_loss: bool = True,
    ) -> None:
        self.prefixes = tuple(prefixes)
        self.val_keys = tuple(val_keys)
        self.check_loss = check_loss

    def _fail(self, trainer: L.Trainer, key: str, value: float) -> None:
        good = last_good_checkpoint(trainer)
        kept = f"last good checkpoint kept: {good}" if good else "no checkpoint was saved before it"
        raise DivergenceError(
            f"training diverged at step {trainer.global_step} (epoch {trainer.current_epoch}): {key}={value}; "
            f"{kept}. Lower the learning rate or enable gradient clipping ({clip_hint(trainer)}), "
            "then resume from it"
        )

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        found = _non_finite(_this_step_metrics(trainer), self.prefixes)
        if found is None and self.check_loss:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            if isinstance(loss, torch.Tensor) and loss.numel() == 1 and not torch.isfinite(loss):
                found = ("loss (training_step output)", float(loss))
        if found is not None:
            self._fail(trainer, *found)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        watched = {k: v for k, v in trainer.callback_metrics.items() if k in self.val_keys}
        found = _non_finite(watched, ("val/",))
        if found is not None:
            self._fail(trainer, *found)
