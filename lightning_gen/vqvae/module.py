"""VQ-VAE: images -> grid of codebook tokens -> images (the first stage of the VQ prior).

Contracts: ``reconstruct(x)``; ``encode(x)`` gives the quantised latents flattened to ``(B, D*h*w)``
and ``decode(z)`` inverts it, so latent pictures and ``lgen analyze`` treat it like any
autoencoder; ``tokenize(x) -> (B, h, w)`` and ``detokenize(tokens)`` are the token-grid view the
Transformer prior uses. Logs ``{stage}/codebook_usage`` (fraction of codes used in the epoch) and
``{stage}/perplexity`` (of the code histogram) next to the losses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from lightning_gen.contracts import seeded_rng
from lightning_gen.networks.vqvae import GridDecoder, GridEncoder, VectorQuantizer
from lightning_gen.validate import check_model_args


def code_stats(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fraction of codes used, perplexity ``exp(H)`` of the code histogram) from counts ``(K,)``."""
    p = counts / counts.sum().clamp(min=1)
    entropy = -(p * (p + 1e-10).log()).sum()
    return (counts > 0).float().mean(), entropy.exp()


class VQVAE(L.LightningModule):
    """Conv encoder, ``codebook_size`` x ``code_dim`` codebook, conv decoder; MSE + VQ losses."""

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        widths: Sequence[int] = (32, 64),
        code_dim: int = 32,
        codebook_size: int = 128,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        restart_after: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges of every numeric key (lightning_gen/validate.py)
        super().__init__()
        self.save_hyperparameters()
        c, h, _ = image_shape
        self.encoder = GridEncoder(c, h, list(widths), code_dim)
        self.quantizer = VectorQuantizer(codebook_size, code_dim, beta, ema, decay, restart_after)
        self.decoder = GridDecoder(code_dim, c, list(widths))
        side = h // 2 ** len(widths)
        self.grid_shape = (side, side)
        self._counts: dict[str, torch.Tensor] = {}

    # -- contracts ---------------------------------------------------------------------------
    def quantize(self, x: torch.Tensor):
        """(z_q ``(B, D, h, w)``, VQ loss, tokens ``(B, h, w)``, code counts ``(K,)``) of images ``x``."""
        return self.quantizer(self.encoder(x))

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Token grid ``(B, h, w)`` (long) of images ``(B, C, H, W)``."""
        z = self.encoder(x)
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        return self.quantizer.indices(flat).view(len(x), *z.shape[2:])

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in ``[-1, 1]`` from a token grid ``(B, h, w)``."""
        return self.decoder(self.quantizer.lookup(tokens))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Quantised latents flattened ``(B, D*h*w)``."""
        return self.quantize(x)[0].flatten(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images from flattened latents ``(B, D*h*w)`` (interpolations decode unquantised mixes)."""
        return self.decoder(z.view(len(z), self.hparams.code_dim, *self.grid_shape))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decoder(quantise(encoder(x)))`` in ``[-1, 1]``."""
        return self.decoder(self.quantize(x)[0])

    # -- training ----------------------------------------------------------------------------
    def _step(self, x: torch.Tensor, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss of ``x`` (logged) and its reconstruction ``decoder(quantise(encoder(x)))``."""
        z_q, vq_loss, _, counts = self.quantize(x)
        x_hat = self.decoder(z_q)
        recon = F.mse_loss(x_hat, x)
        loss = recon + vq_loss
        self._counts[stage] = self._counts.get(stage, 0) + counts.detach()
        on_step = stage == "train"
        self.log_dict({f"{stage}/loss": loss, f"{stage}/recon": recon, f"{stage}/vq": vq_loss},
                      prog_bar=on_step, sync_dist=not on_step)  # fmt: skip
        return loss, x_hat

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reconstruction + VQ loss of a batch ``(x, y)`` (``HasLoss``); nothing random is drawn
        in eval mode, ``generator`` seeds anything that is (dead-code restarts in training mode)."""
        with seeded_rng(generator, self.device):
            z_q, vq_loss, _, _ = self.quantize(batch[0])
            return F.mse_loss(self.decoder(z_q), batch[0]) + vq_loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch[0], "train")[0]

    def validation_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """Log the losses; return ``{"reconstruction": reconstruct(x)}`` (eval mode: the same
        quantisation) for the reconstruction metrics and grids (no second forward pass)."""
        return {"reconstruction": self._step(batch[0], "val")[1]}

    def test_step(self, batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return {"reconstruction": self._step(batch[0], "test")[1]}

    def _log_codes(self, stage: str) -> None:
        counts = self._counts.pop(stage, None)
        if counts is None:
            return
        if self.trainer.world_size > 1:
            counts = self.all_gather(counts).sum(0)
        usage, perplexity = code_stats(counts)
        self.log_dict({f"{stage}/codebook_usage": usage, f"{stage}/perplexity": perplexity})

    def on_train_epoch_end(self) -> None:
        self._log_codes("train")

    def on_validation_epoch_end(self) -> None:
        self._log_codes("val")

    def on_test_epoch_end(self) -> None:
        self._log_codes("test")

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
