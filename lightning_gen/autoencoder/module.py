"""Autoencoder and denoising autoencoder as one LightningModule.

The denoising variant is the same model with ``noise`` set: it is trained to map a
corrupted input back to the clean image and logs the PSNR of noisy vs denoised images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from lightning_gen.autoencoder.loss import get_loss
from lightning_gen.autoencoder.noise import get_noise
from lightning_gen.contracts import seeded_rng
from lightning_gen.networks.conv import ConvDecoder, ConvEncoder
from lightning_gen.validate import check_model_args


class Autoencoder(L.LightningModule):
    """Deterministic conv autoencoder; ``noise`` in {gaussian, salt_and_pepper, masking} makes it denoising.

    ``image_shape`` and ``num_classes`` are filled in from the DataModule by ``lgen train``.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        latent_dim: int = 16,
        widths: Sequence[int] = (32, 64),
        loss: str = "mse",
        noise: str | None = None,
        noise_level: float = 0.3,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges: lightning_gen/validate.py
        super().__init__()
        self.save_hyperparameters()
        c, h, _ = image_shape
        self.loss_fn = get_loss(loss)
        self.noise_fn = get_noise(noise) if noise else None
        self.encoder = ConvEncoder(c, h, widths, latent_dim)
        self.decoder = ConvDecoder(latent_dim, c, h, widths)

    # -- contracts ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes ``(B, latent_dim)`` of images ``(B, C, H, W)`` in ``[-1, 1]``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in ``[-1, 1]`` from codes ``(B, latent_dim)``."""
        return self.decoder(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))``; for the denoising variant this is the denoised image."""
        return self.decode(self.encode(x))

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the configured noise model (identity for a plain autoencoder)."""
        return self.noise_fn(x, self.hparams.noise_level) if self.noise_fn else x

    # -- training ----------------------------------------------------------------------------
    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean reconstruction loss of a batch ``(x, y)`` from its corrupted input (``HasLoss``);
        the corruption is drawn from ``generator`` when one is given (deterministic)."""
        x, _ = batch
        with seeded_rng(generator, self.device):
            return self.loss_fn(self.reconstruct(self.corrupt(x)), x).mean()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._eval_step(batch, "test")

    def _eval_step(self, batch, stage: str) -> dict[str, torch.Tensor]:
        """Log the loss; return ``{"reconstruction": reconstruct(x)}`` for the metric callbacks."""
        x, _ = batch
        noisy = self.corrupt(x)
        x_hat = self.reconstruct(noisy)
        self.log(f"{stage}/loss", self.loss_fn(x_hat, x).mean(), prog_bar=True, sync_dist=True)
        if self.noise_fn is not None:
            to01 = dict(data_range=2.0)
            self.log(
                f"{stage}/psnr_noisy", peak_signal_noise_ratio(noisy, x, **to01), sync_dist=True
            )
            self.log(
                f"{stage}/psnr_denoised", peak_signal_noise_ratio(x_hat, x, **to01), sync_dist=True
            )
            return {"reconstruction": self.reconstruct(x)}  # of the clean image, as everywhere
        return {"reconstruction": x_hat}  # no noise: the very same reconstruction

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
