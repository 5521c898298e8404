"""Loggers that continue a resumed run in the same place, without duplicated steps.

``resume_logger_overrides`` rewrites the ``logger`` config group for a resume from a checkpoint at
``global_step``: CSV keeps the rows logged before it (Lightning's CSVLogger would delete the file),
TensorBoard purges events from that step on, W&B continues the stored run id.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from omegaconf import DictConfig, open_dict


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that, with ``resume_step``, keeps the existing ``metrics.csv`` rows with ``step < resume_step``."""

    def __init__(self, *args: Any, resume_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume_step = resume_step

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is not None or self.resume_step is None:
            return super().experiment
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        header, rows = [], []
        if os.path.isfile(path):
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                header = list(reader.fieldnames or [])
                rows = [
                    r
                    for r in reader
                    if r.get("step") not in (None, "") and int(float(r["step"])) < self.resume_step
                ]
        writer = super().experiment  # deletes the old file
        if header:
            with open(path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=header)
                w.writeheader()
                w.writerows(rows)
            writer.metrics_keys = sorted(header)
        return writer


_CSV = {"lightning.pytorch.loggers.CSVLogger", "lightning.pytorch.loggers.csv_logs.CSVLogger"}
_TB = {
    "lightning.pytorch.loggers.TensorBoardLogger",
    "lightning.pytorch.loggers.tensorboard.TensorBoardLogger",
}
_WANDB = {"lightning_gen.loggers.make_wandb_logger", "lightning.pytorch.loggers.WandbLogger"}


def resume_logger_overrides(
    loggers: DictConfig | None, global_step: int, wandb_id: str | None
) -> None:
    """Edit the ``logger`` group in place so every logger continues the resumed run at ``global_step``."""
    for cfg in (loggers or {}).values():
        if cfg is None or "_target_" not in cfg:
            continue
        target = cfg._target_
        with open_dict(cfg):
            if target in _CSV or target == f"{__name__}.ResumableCSVLogger":
                cfg._target_ = f"{__name__}.ResumableCSVLogger"
                cfg.resume_step = global_step
            elif target in _TB:
                cfg.purge_step = global_step
            elif target in _WANDB and wandb_id:
                cfg.id = wandb_id
                cfg.resume = "allow"
