"""Reconstruction metrics ``val/mse``, ``val/psnr``, ``val/ssim`` for any model that reconstructs.

Computed with torchmetrics on images mapped to ``[0, 1]`` (so PSNR has data range 1; SSIM is
torchmetrics' Gaussian SSIM with its window applied separably, ``metrics/ssim.py``, same values);
states are synced across DDP ranks by torchmetrics (exact: the data module's validation and test
samplers shard without padded duplicates). The reconstruction is the one the model's own
``validation_step`` / ``test_step`` returned as ``{"reconstruction": x_hat}`` (no second forward
pass); a model that returns none gets ``reconstruct(x)`` called here.
"""

from __future__ import annotations

import lightning as L
import torch
from torchmetrics import MeanSquaredError, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio

from lightning_gen.contracts import CanReconstruct, call_with_condition, require
from lightning_gen.images import to_unit_interval
from lightning_gen.metrics.ssim import SeparableSSIM
from lightning_gen.rng import isolated_rng


class ReconstructionMetrics(L.Callback):
    """Log MSE/PSNR/SSIM of ``model.reconstruct(x)`` against ``x`` on the val and test splits."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self.active = False
        self.metrics: MetricCollection | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.active = require(pl_module, CanReconstruct, "ReconstructionMetrics", self.strict)
        self.metrics = MetricCollection(
            {
                "mse": MeanSquaredError(),
                "psnr": PeakSignalNoiseRatio(data_range=1.0),
                "ssim": SeparableSSIM(data_range=1.0),  # torchmetrics' SSIM, separable window
            }
        )

    def _update(self, pl_module: L.LightningModule, outputs, batch) -> None:
        if not self.active:
            return
        x, y = batch
        x_hat = outputs.get("reconstruction") if isinstance(outputs, dict) else None
        if x_hat is None:
            with torch.no_grad(), isolated_rng():
                x_hat = call_with_condition(pl_module.reconstruct, x, y)
        a, b = to_unit_interval(x_hat), to_unit_interval(x)
        self.metrics["mse"].update(a.flatten(), b.flatten())
        self.metrics["psnr"].update(a, b)
        self.metrics["ssim"].update(a, b)

    def _log(self, pl_module: L.LightningModule, stage: str) -> None:
        if not self.active:
            return
        values = self.metrics.compute()  # every rank: torchmetrics syncs states
        pl_module.log_dict({f"{stage}/{k}": v for k, v in values.items()}, sync_dist=False)
        self.metrics.reset()

    def _to_device(self, pl_module: L.LightningModule) -> None:
        if self.active:
            self.metrics.to(pl_module.device)

    def on_validation_epoch_start(self, trainer, pl_module):
        self._to_device(pl_module)

    def on_test_epoch_start(self, trainer, pl_module):
        self._to_device(pl_module)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        self._update(pl_module, outputs, batch)

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._log(pl_module, "val")
        elif self.active:
            self.metrics.reset()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._update(pl_module, outputs, batch)

    def on_test_epoch_end(self, trainer, pl_module):
        self._log(pl_module, "test")
