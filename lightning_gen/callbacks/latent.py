"""Latent-space pictures during training: 2-D projection of validation codes and an interpolation grid.

Needs a model with ``encode`` (``CanEncode``); the interpolation grid also needs ``decode``.
Files: ``<run>/<dirname>/latents_<tag>.png`` and ``interpolation_<tag>.png`` (tag ``epochNNN`` or
``test``), also sent to every logger that shows images. Under DDP each rank encodes its own
shard; rank 0 draws its shard.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from lightning_gen.analysis.common import CanDecode, encode
from lightning_gen.analysis.latent import interpolate, pick_pairs, project_2d, scatter_png
from lightning_gen.callbacks.common import PeriodicWriter
from lightning_gen.callbacks.images import log_image
from lightning_gen.contracts import CanEncode, require
from lightning_gen.images import make_grid, save_grid
from lightning_gen.rng import isolated_rng


class LatentVisualisation(PeriodicWriter):
    """Every ``every_n_epochs`` validation epochs (and after test), project up to ``num_images`` codes
    to 2-D with ``method`` (pca | tsne), colour them by label, and interpolate ``pairs`` image pairs
    in ``steps`` steps.
    """

    def __init__(
        self,
        num_images: int = 500,
        method: str = "pca",
        pairs: int = 6,
        steps: int = 8,
        every_n_epochs: int = 1,
        dirname: str = "images",
        strict: bool = True,
        seed: int = 0,
    ) -> None:
        self.num_images, self.method, self.pairs, self.steps = num_images, method, pairs, steps
        self.every_n_epochs, self.dirname, self.strict, self.seed = (
            every_n_epochs,
            dirname,
            strict,
            seed,
        )
        self.active = False
        self._reset()

    def _reset(self) -> None:
        self._z: list[torch.Tensor] = []
        self._x: list[torch.Tensor] = []
        self._y: list[torch.Tensor | None] = []

    def setup(self, trainer, pl_module, stage):
        self.active = require(pl_module, CanEncode, "LatentVisualisation", self.strict)

    @torch.no_grad()
    @isolated_rng()
    def _collect(self, pl_module: L.LightningModule, batch) -> None:
        seen = sum(len(z) for z in self._z)
        if not self.active or seen >= self.num_images:
            return
        x, y = batch
        x, y = x[: self.num_images - seen], None if y is None else y[: self.num_images - seen]
        self._z.append(encode(pl_module, x, y).float().cpu())
        self._x.append(x.cpu())
        self._y.append(None if y is None else y.cpu())

    def on_validation_epoch_start(self, trainer, pl_module):
        self._reset()

    def on_test_epoch_start(self, trainer, pl_module):
        self._reset()

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        if not trainer.sanity_checking:
            self._collect(pl_module, batch)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._collect(pl_module, batch)

    @torch.no_grad()
    @isolated_rng()
    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> list[Path]:
        """Draw the projection and the interpolation grid from the collected codes; returns the paths."""
        if not self.active or not self._z:
            return []
        z, x = torch.cat(self._z), torch.cat(self._x)
        y = None if any(v is None for v in self._y) else torch.cat(self._y)
        interp = None
        if isinstance(pl_module, CanDecode) and len(x) >= 2:
            dev = pl_module.device
            xa, xb, ya, yb = pick_pairs(
                x.to(dev), None if y is None else y.to(dev), self.pairs, self.seed
            )
            interp = interpolate(pl_module, xa, xb, self.steps, ya, yb).float().cpu()
        if not trainer.is_global_zero:
            return []
        out = Path(trainer.default_root_dir) / self.dirname
        paths = []
        if len(z) >= 3:
            points = project_2d(z, self.method, self.seed)
            title = f"latents ({self.method}), {tag}"
            path = scatter_png(points, y, out / f"latents_{tag}.png", title=title)
            paths.append(path)
            import numpy as np
            from PIL import Image

            log_image(
                trainer,
                "images/latents",
                np.asarray(Image.open(path).convert("RGB")),
                trainer.global_step,
            )
        if interp is not None:
            paths.append(save_grid(interp, out / f"interpolation_{tag}.png", nrow=self.steps))
            log_image(
                trainer, "images/interpolation", make_grid(interp, self.steps), trainer.global_step
            )
        return paths
