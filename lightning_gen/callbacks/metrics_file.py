"""Write the latest logged metrics to ``<run>/metrics.json`` (atomically) after val and test."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import lightning as L

from lightning_gen.fileio import atomic_write


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` atomically (never half-written)."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)


def _batch_size(batch) -> int:
    """Images in a batch: the first dimension of its first tensor (tuples/dicts searched in order)."""
    if hasattr(batch, "shape"):
        return int(batch.shape[0]) if batch.ndim else 0
    items = batch.values() if isinstance(batch, dict) else batch
    if isinstance(items, (list, tuple)) or isinstance(batch, dict):
        for item in items:
            n = _batch_size(item)
            if n:
                return n
    return 0


class MetricsFile(L.Callback):
    """Keep ``metrics.json`` = ``{"epoch", "global_step", "val": {...}, "test": {...}}`` up to date.

    Also records ``"model": {"model/params": trainable parameters}`` and ``"time":
    {"time/train_seconds": wall seconds of fit in this process, "time/train_images": images trained on}`` (read by ``lgen compare``).
    """

    def __init__(self, filename: str = "metrics.json") -> None:
        self.filename = filename
        self.record: dict = {}
        self._fit_start: float | None = None
        self._train_images = 0

    def on_fit_start(self, trainer, pl_module):
        self._fit_start = time.perf_counter()
        params = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        self.record["model"] = {"model/params": int(params)}

    def _write(self, trainer: L.Trainer, stage: str) -> None:
        if trainer.sanity_checking:
            return
        values = {}
        for k, v in trainer.callback_metrics.items():
            if k.startswith(f"{stage}/"):
                f = float(v)
                values[k] = f if math.isfinite(f) else str(f)
        self.record.update(
            {"epoch": trainer.current_epoch, "global_step": trainer.global_step, stage: values}
        )
        if trainer.is_global_zero:
            write_json_atomic(Path(trainer.default_root_dir) / self.filename, self.record)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._train_images += _batch_size(batch)

    def on_validation_end(self, trainer, pl_module):
        self._write(trainer, "val")

    def on_test_end(self, trainer, pl_module):
        self._write(trainer, "test")

    def on_train_end(self, trainer, pl_module):
        train = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        self.record["train"] = train
        if self._fit_start is not None:
            seconds = time.perf_counter() - self._fit_start
            self.record["time"] = {
                "time/train_seconds": round(seconds, 3),
                "time/train_images": self._train_images,  # this rank's, this process's
            }
        if trainer.is_global_zero:
            write_json_atomic(Path(trainer.default_root_dir) / self.filename, self.record)
