"""VAE / beta-VAE and the class-conditional VAE (one module; ``conditional=true`` adds labels)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from lightning_gen.autoencoder.loss import get_loss
from lightning_gen.contracts import seeded_rng
from lightning_gen.errors import ConfigError
from lightning_gen.networks.conv import ConvDecoder, ConvEncoder
from lightning_gen.vae.loss import beta_elbo_loss, reparameterize
from lightning_gen.validate import check_model_args


class VAE(L.LightningModule):
    """Gaussian-latent VAE. ``beta`` weights the KL (beta-VAE); ``conditional`` feeds one-hot labels
    to encoder (as extra channels) and decoder (concatenated to z).
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        latent_dim: int = 16,
        widths: Sequence[int] = (32, 64),
        beta: float = 1.0,
        loss: str = "mse",
        conditional: bool = False,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges: lightning_gen/validate.py
        super().__init__()
        if conditional and num_classes < 2:
            raise ConfigError(
                "a conditional VAE needs labelled data (num_classes >= 2); use model=vae instead"
            )
        self.save_hyperparameters()
        c, h, _ = image_shape
        k = num_classes if conditional else 0
        self.loss_fn = get_loss(loss)
        self.encoder = ConvEncoder(c + k, h, widths, 2 * latent_dim)
        self.decoder = ConvDecoder(latent_dim + k, c, h, widths)

    @property
    def condition_classes(self) -> int:
        """Classes this model can be asked for (``contracts.IsClassConditional``; 0: unconditional)."""
        return int(self.hparams.num_classes) if self.hparams.conditional else 0

    # -- helpers -----------------------------------------------------------------------------
    def _onehot(self, y: torch.Tensor | None, n: int) -> torch.Tensor | None:
        if not self.hparams.conditional:
            return None
        if y is None:
            raise ValueError("the conditional VAE needs class labels (condition=...)")
        return F.one_hot(y.long().to(self.device), self.hparams.num_classes).float()  # (B, K)

    def _posterior(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        oh = self._onehot(y, len(x))
        if oh is not None:
            x = torch.cat(
                [x, oh[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1
            )  # (B, C+K, H, W)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in ``[-1, 1]`` from latents ``(B, D)`` (and labels if conditional)."""
        oh = self._onehot(condition, len(z))
        return self.decoder(z if oh is None else torch.cat([z, oh], 1))

    # -- contracts ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means ``(B, latent_dim)``."""
        return self._posterior(x, condition)[0]

    def reconstruct(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean of ``x``."""
        return self.decode(self.encode(x, condition), condition)

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None) -> torch.Tensor:
        """``n`` images from the prior; a conditional VAE draws uniform labels when ``condition`` is None."""
        if self.hparams.conditional and condition is None:
            condition = torch.randint(0, self.hparams.num_classes, (n,), device=self.device)
        z = torch.randn(n, self.hparams.latent_dim, device=self.device)
        return self.decode(z, condition)

    # -- training ----------------------------------------------------------------------------
    def _loss(self, x: torch.Tensor, y: torch.Tensor | None, posterior=None):
        mu, logvar = self._posterior(x, y) if posterior is None else posterior
        x_hat = self.decode(reparameterize(mu, logvar), y)
        return beta_elbo_loss(self.loss_fn(x_hat, x), mu, logvar, x[0].numel(), self.hparams.beta)

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean negative (beta-)ELBO of a batch ``(x, y)`` (``HasLoss``); the posterior sample is
        drawn from ``generator`` when one is given (deterministic)."""
        with seeded_rng(generator, self.device):
            return self._loss(*batch)[0].mean()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, recon, kl = (t.mean() for t in self._loss(*batch))
        self.log_dict({"train/loss": loss, "train/recon": recon, "train/kl": kl}, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._eval(batch, "val")

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._eval(batch, "test")

    def _eval(self, batch, stage: str) -> dict[str, torch.Tensor]:
        """Log the ELBO terms; return ``{"reconstruction": reconstruct(x)}`` (one encoder pass)."""
        x, y = batch
        posterior = self._posterior(x, y)
        loss, recon, kl = (t.mean() for t in self._loss(x, y, posterior))
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/recon": recon, f"{stage}/kl": kl}, sync_dist=True
        )
        return {"reconstruction": self.decode(posterior[0], y)}  # the posterior mean's decoding

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
