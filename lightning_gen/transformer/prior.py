"""Autoregressive Transformer prior over the token grids of a trained, frozen VQ-VAE.

A token grid ``(h, w)`` is read in raster order as ``h*w`` tokens after one prefix token: the class
label (``conditional=true``) or a start token (also the "no label" token of classifier-free
guidance: labels are replaced by it with probability ``label_dropout`` while training). ``sample``
draws tokens with a key-value cache and decodes them with the VQ-VAE into images in ``[-1, 1]``.
The VQ-VAE's class and hyper-parameters are kept in this model's hyper-parameters and its weights
in the state dict, so the checkpoint is self-contained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from lightning_gen.contracts import seeded_rng
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.networks.transformer import DecoderOnly
from lightning_gen.transformer.sampling import check_sampling, generate
from lightning_gen.validate import check_model_args


def load_vqvae(path: str, image_shape: Sequence[int]) -> tuple[Any, dict[str, Any]]:
    """A frozen VQ-VAE from an ``lgen train`` run folder or ``.ckpt`` and its spec ``{class_path, hparams}``."""
    from lightning_gen.checkpoints import load_model
    from lightning_gen.contracts import class_path
    from lightning_gen.diffusion.latent import _primitive

    model = load_model(path)
    if not callable(getattr(model, "tokenize", None)):
        raise CheckpointError(
            f"{path} holds a {type(model).__name__}, which has no tokenize(); the VQ prior needs a VQ-VAE "
            "run (train one first: lgen train experiment=vqvae_mnist)"
        )
    if list(model.hparams["image_shape"]) != list(image_shape):
        raise CheckpointError(
            f"{path} was trained on images of shape {list(model.hparams['image_shape'])}, but this data "
            f"has {list(image_shape)}; train the VQ-VAE on the same data"
        )
    return model, {"class_path": class_path(model), "hparams": _primitive(dict(model.hparams))}


class VQPrior(L.LightningModule):
    """Decoder-only Transformer over VQ-VAE tokens; optionally class-conditional with CFG."""

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        vqvae_ckpt: str | None = None,
        vqvae: dict[str, Any] | None = None,
        conditional: bool = False,
        label_dropout: float = 0.1,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        dropout: float = 0.0,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        guidance_scale: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
    ) -> None:
        check_model_args(locals())  # ranges of every numeric key (lightning_gen/validate.py)
        super().__init__()
        check_sampling(temperature, top_k, top_p, guidance_scale)
        if conditional and num_classes < 2:
            raise ConfigError(
                "a conditional VQ prior needs labelled data (num_classes >= 2); set model.conditional=false"
            )
        if vqvae is None:
            if not vqvae_ckpt:
                raise ConfigError("the VQ prior needs model.vqvae_ckpt=<VQ-VAE run folder or .ckpt> "
                                  "(train one first: lgen train experiment=vqvae_mnist)")  # fmt: skip
            vq, vqvae = load_vqvae(vqvae_ckpt, image_shape)
        else:
            from lightning_gen.diffusion.latent import build_autoencoder

            vq = build_autoencoder(vqvae)
        self.save_hyperparameters()  # with the VQ-VAE spec just read: the checkpoint is self-contained
        self.vqvae = vq.eval().requires_grad_(False)
        self.grid_shape = tuple(vq.grid_shape)
        self.codes = int(vq.hparams["codebook_size"])
        self.start = self.codes + (num_classes if conditional else 0)  # start / no-label token
        seq_len = self.grid_shape[0] * self.grid_shape[1]
        self.net = DecoderOnly(self.start + 1, self.codes, seq_len, dim, depth, heads, dropout)

    @property
    def condition_classes(self) -> int:
        """Classes this model can be asked for (``contracts.IsClassConditional``; 0: unconditional)."""
        return int(self.hparams.num_classes) if self.hparams.conditional else 0

    def train(self, mode: bool = True) -> VQPrior:
        """Keep the frozen VQ-VAE in eval mode (no codebook updates or restarts)."""
        super().train(mode)
        self.vqvae.eval()
        return self

    def sampling_options(self) -> dict[str, Any]:
        """Default sampling options (INTERFACES.md): temperature, top_k, top_p, guidance_scale."""
        return {k: self.hparams[k] for k in ("temperature", "top_k", "top_p", "guidance_scale")}

    def _prefix(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        """Prefix tokens ``(n, 1)``: the class token of each label, or the start token."""
        if labels is None or not self.hparams.conditional:
            return torch.full((n, 1), self.start, dtype=torch.long, device=self.device)
        return (self.codes + labels.long().to(self.device))[:, None]

    def _loss(self, x: torch.Tensor, y: torch.Tensor | None, drop_labels: bool) -> torch.Tensor:
        with torch.no_grad():
            tokens = self.vqvae.tokenize(x).flatten(1)  # (B, L)
        prefix = self._prefix(y, len(x))
        if drop_labels and self.hparams.conditional:
            drop = torch.rand(len(x), 1, device=self.device) < self.hparams.label_dropout
            prefix = prefix.masked_fill(drop, self.start)
        logits = self.net(torch.cat([prefix, tokens[:, :-1]], 1))  # (B, L, K)
        return F.cross_entropy(logits.flatten(0, 1), tokens.flatten())

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Next-token loss of a batch ``(x, y)`` with its labels kept (``HasLoss``); dropout (in
        training mode) draws from ``generator`` when one is given."""
        with seeded_rng(generator, self.device):
            return self._loss(*batch, drop_labels=False)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(*batch, drop_labels=True)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "test")

    def _eval(self, batch, stage: str) -> None:
        loss = self._loss(*batch, drop_labels=False)
        bits = loss / torch.log(torch.tensor(2.0))
        self.log_dict({f"{stage}/loss": loss, f"{stage}/bits_per_token": bits}, sync_dist=True)

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None, temperature: float | None = None,
               top_k: int | None = None, top_p: float | None = None, guidance_scale: float | None = None,
               generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:  # fmt: skip
        """``n`` images ``(n, C, H, W)`` in ``[-1, 1]``; options default to ``sampling_options()``.

        A conditional prior draws uniform labels when ``condition`` is None; ``guidance_scale != 1``
        mixes conditional and unconditional logits (classifier-free guidance).
        """
        o = self.sampling_options()
        temperature = o["temperature"] if temperature is None else temperature
        top_k = o["top_k"] if top_k is None else top_k
        top_p = o["top_p"] if top_p is None else top_p
        guidance_scale = o["guidance_scale"] if guidance_scale is None else guidance_scale
        check_sampling(temperature, top_k, top_p, guidance_scale)
        if self.hparams.conditional and condition is None:
            condition = torch.randint(
                0, self.hparams.num_classes, (n,), device=self.device, generator=generator
            )
        prefix = self._prefix(condition, n)
        uncond = self._prefix(None, n) if self.hparams.conditional else None
        steps = self.grid_shape[0] * self.grid_shape[1]
        seq = generate(self.net, prefix, steps, temperature, top_k, top_p, generator, use_cache,
                       uncond, guidance_scale)  # fmt: skip
        tokens = seq[:, 1:].view(n, *self.grid_shape)
        return self.vqvae.detokenize(tokens).clamp(-1, 1)

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.net.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
