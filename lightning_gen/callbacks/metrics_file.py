"""Write the latest logged metrics to ``<run>/metrics.json`` (atomically) after val and test."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L

from lightning_gen.fileio import atomic_write


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` atomically (never half-written)."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)


class MetricsFile(L.Callback):
    """Keep ``metrics.json`` = ``{"epoch", "global_step", "val": {...}, "test": {...}}`` up to date."""

    def __init__(self, filename: str = "metrics.json") -> None:
        self.filename = filename
        self.record: dict = {}

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

    def on_validation_end(self, trainer, pl_module):
        self._write(trainer, "val")

    def on_test_end(self, trainer, pl_module):
        self._write(trainer, "test")

    def on_train_end(self, trainer, pl_module):
        train = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        self.record["train"] = train
        if trainer.is_global_zero:
            write_json_atomic(Path(trainer.default_root_dir) / self.filename, self.record)
