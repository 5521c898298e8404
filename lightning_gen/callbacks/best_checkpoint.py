"""``BestCheckpoint``: ``best.ckpt`` by a quality metric, or none when that metric is not logged.

For the noise GANs ``val/loss`` is the generator's adversarial loss, which says nothing about
sample quality; their experiments monitor ``val/fid`` (logged with ``callbacks=generation``).
Without it there is no meaningful "best", so only ``last.ckpt`` is kept, and a one-line notice
says so (instead of Lightning's error for a monitor that is never logged).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info


class BestCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose top-k save is skipped (with one notice) while ``monitor`` is not
    among the logged metrics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._noticed = False

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            if not self._noticed:
                rank_zero_info(
                    f"best checkpoint: {self.monitor} is not logged (add callbacks=generation for "
                    f"val/fid); keeping only {self.dirpath}/last.ckpt"
                )
                self._noticed = True
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)
