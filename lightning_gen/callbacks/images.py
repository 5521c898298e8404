"""Image grids (samples, reconstructions) as PNG files in the run folder and in every logger."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

from lightning_gen.callbacks.common import PeriodicWriter
from lightning_gen.contracts import CanReconstruct, CanSample, call_with_condition, takes_condition
from lightning_gen.images import make_grid, save_grid
from lightning_gen.rng import isolated_rng


def log_image(trainer: L.Trainer, key: str, grid: np.ndarray, step: int) -> None:
    """Send a ``uint8`` grid ``(H, W, C)`` to every logger that shows images (TensorBoard, W&B).

    CSV logging has no images: the PNG file in the run folder is its record.
    """
    for logger in trainer.loggers:
        name = type(logger).__name__
        if name == "TensorBoardLogger":
            logger.experiment.add_image(key, grid, step, dataformats="HWC")
        elif name == "WandbLogger":
            logger.log_image(key=key, images=[grid], step=step)


def _channels(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x`` ``(B, C', H, W)`` shown with ``c`` channels (a grey source next to colour images)."""
    return x if x.shape[1] == c else x[:, :1].expand(-1, c, -1, -1)


def translation_triples(
    source: torch.Tensor, output: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """``(3B, C, H, W)``: each source image, the model's translation of it and its target, in turn."""
    c = output.shape[1]
    return torch.stack(
        [_channels(source, c), output, _channels(target.to(output.dtype), c)], 1
    ).flatten(0, 1)


class ImageGrids(PeriodicWriter):
    """Every ``every_n_epochs`` validation epochs, save ``samples`` and ``reconstructions`` grids.

    Uses ``sample(n, condition=None)`` when the model has it and ``reconstruct(x)`` on the first
    batch of the split just evaluated (validation, or the test split after test) when it has that:
    the reconstruction the model's ``validation_step`` / ``test_step`` returned as
    ``{"reconstruction": x_hat}`` for that batch (no second forward pass), else ``reconstruct`` is
    called on it here.
    An image-to-image model (the batch's condition is an image batch, Pix2Pix/CycleGAN) gets its
    ``samples`` grid as (source, translation, target) triples. Files:
    ``<run>/images/<kind>_epoch<E>.png`` and ``<kind>_test.png``. Drawing never touches the global
    RNG (``isolated_rng``), so turning the grids on does not change training.
    """

    def __init__(
        self, num_images: int = 64, every_n_epochs: int = 1, dirname: str = "images"
    ) -> None:
        self.num_images, self.every_n_epochs, self.dirname = num_images, every_n_epochs, dirname
        self._batch: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._recon: torch.Tensor | None = None  # the step's reconstruction of ``_batch``

    def setup(self, trainer, pl_module, stage):
        if not isinstance(pl_module, (CanSample, CanReconstruct)):
            raise TypeError(
                f"ImageGrids needs a model that implements sample() or reconstruct(); "
                f"{type(pl_module).__name__} has neither. Remove callbacks.image_grids."
            )

    def _keep(self, outputs, batch, batch_idx: int) -> None:
        if batch_idx == 0:
            x, y = batch
            n = self.num_images
            self._batch = (x[:n], None if y is None else y[:n])
            recon = outputs.get("reconstruction") if isinstance(outputs, dict) else None
            self._recon = None if recon is None else recon[:n].detach()

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        self._keep(outputs, batch, batch_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._keep(outputs, batch, batch_idx)  # the test grids show the test split

    @torch.no_grad()
    @isolated_rng()
    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> list[Path]:
        """Draw the grids now (all ranks sample, for collective ops; rank 0 writes). Returns paths."""
        grids: dict[str, torch.Tensor] = {}
        nrows = {"reconstructions": 16}
        if isinstance(pl_module, CanSample):
            grids["samples"] = self._samples(pl_module)
            if self._batch is not None and self._is_translation(pl_module):
                nrows["samples"] = 3 * min(4, len(self._batch[0]))
        if isinstance(pl_module, CanReconstruct) and self._batch is not None:
            x, y = self._batch
            x = x.to(pl_module.device)
            x_hat = self._recon
            if x_hat is None:
                x_hat = call_with_condition(
                    pl_module.reconstruct, x, None if y is None else y.to(pl_module.device)
                )
            pairs = torch.stack([x, x_hat.to(x.dtype)], 1).flatten(
                0, 1
            )  # (2B, C, H, W): original, recon
            grids["reconstructions"] = pairs
        paths = []
        if trainer.is_global_zero:
            out = Path(trainer.default_root_dir) / self.dirname
            for kind, imgs in grids.items():
                nrow = nrows.get(kind)
                paths.append(save_grid(imgs.float().cpu(), out / f"{kind}_{tag}.png", nrow))
                log_image(
                    trainer,
                    f"images/{kind}",
                    make_grid(imgs.float().cpu(), nrow),
                    trainer.global_step,
                )
        return paths

    def _is_translation(self, pl_module: L.LightningModule) -> bool:
        cond = None if self._batch is None else self._batch[1]
        return cond is not None and cond.ndim == 4 and takes_condition(pl_module.sample)

    def _samples(self, pl_module: L.LightningModule) -> torch.Tensor:
        """Samples ``(n, C, H, W)``; for an image-to-image model (source, output, target) triples."""
        cond = None
        if self._batch is not None and self._batch[1] is not None:
            if takes_condition(pl_module.sample):
                cond = self._batch[1].to(pl_module.device)
        if cond is not None and cond.ndim == 1 and len(cond) < self.num_images:
            # class labels of a batch smaller than the grid: repeated, so the grid has num_images
            cond = cond.repeat(-(-self.num_images // len(cond)))[: self.num_images]
        n = len(cond) if cond is not None else self.num_images
        out = pl_module.sample(n, condition=cond)
        if self._is_translation(pl_module):
            target = self._batch[0].to(out.device)
            return translation_triples(cond, out, target)
        return out
