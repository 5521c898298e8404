"""Latent diffusion: a diffusion model on the latents of a frozen autoencoder/VAE checkpoint.

The autoencoder comes from any ``lgen train`` run of this framework (a model with ``encode`` and
``decode``). Its latents ``(B, D)`` are scaled to unit standard deviation (the scale is measured on
the first training batch, or set with ``latent_scale``), an MLP denoiser learns them, and samples
are decoded back to images. The autoencoder's class and hyper-parameters are stored in this model's
hyper-parameters and its weights in the state dict, so the checkpoint is self-contained.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lightning_gen.contracts import class_path
from lightning_gen.diffusion.module import DiffusionModel
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.networks.unet import MLPDenoiser
from lightning_gen.validate import check_model_args


def build_autoencoder(spec: dict[str, Any]) -> nn.Module:
    """Instantiate ``spec = {"class_path": "pkg.mod.Class", "hparams": {...}}`` (weights not loaded)."""
    module, _, name = spec["class_path"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**spec["hparams"])


class LatentDiffusion(DiffusionModel):
    """Diffusion on ``encode(x) * latent_scale``; ``sample`` decodes ``z / latent_scale``.

    ``autoencoder_ckpt``: path to a ``.ckpt`` of an autoencoder/VAE trained on data of the same
    ``image_shape``. A conditional model also needs labels (``conditional=true``) for the denoiser;
    the decoder itself must be unconditional.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        autoencoder_ckpt: str | None = None,
        autoencoder: dict[str, Any] | None = None,
        latent_scale: float | None = None,
        hidden: int = 512,
        depth: int = 4,
        timesteps: int = 1000,
        schedule: str = "linear",
        prediction: str = "epsilon",
        loss_weighting: str = "none",
        conditional: bool = False,
        label_dropout: float = 0.1,
        guidance_scale: float = 1.0,
        sampler: Any = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges: lightning_gen/validate.py
        if autoencoder is None:
            if not autoencoder_ckpt:
                raise ConfigError(
                    "latent diffusion needs model.autoencoder_ckpt=<path to an autoencoder/VAE .ckpt>"
                )
            ae, autoencoder = load_autoencoder(autoencoder_ckpt, image_shape)
        else:
            ae = build_autoencoder(autoencoder)
        with torch.no_grad():
            self._latent_dim = int(
                ae.encode(torch.zeros(1, *image_shape)).shape[1]
            )  # plain int: allowed before init
        super().__init__(
            image_shape,
            num_classes,
            timesteps,
            schedule,
            prediction,
            loss_weighting,
            conditional=conditional,
            label_dropout=label_dropout,
            guidance_scale=guidance_scale,
            sampler=sampler,
            clip_denoised=False,
            lr=lr,
            weight_decay=weight_decay,
        )
        self.save_hyperparameters(
            {
                "autoencoder": autoencoder,
                "autoencoder_ckpt": autoencoder_ckpt,
                "latent_scale": latent_scale,
                "hidden": hidden,
                "depth": depth,
            }
        )
        self.autoencoder = ae.eval().requires_grad_(False)
        self.latent_scale: float | None = latent_scale

    inpaint = None  # no pixel-space inpainting on latents (typing: not a CanInpaint)
    super_resolve = None  # and no super-resolution (not a CanSuperResolve)

    def build_network(self) -> nn.Module:
        """An MLP denoiser over the ``D``-dimensional latents."""
        return MLPDenoiser(
            self._latent_dim,
            self.hparams.get("hidden", 512),
            self.hparams.get("depth", 4),
            self.condition_classes,
        )

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self._latent_dim,)

    def train(self, mode: bool = True) -> LatentDiffusion:
        """Keep the frozen autoencoder in eval mode (no dropout/batch-norm updates) while training."""
        super().train(mode)
        self.autoencoder.eval()
        return self

    @torch.no_grad()
    def to_diffusion_space(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled latents ``(B, D)``; the first call measures ``latent_scale = 1 / std(latents)``."""
        z = self.autoencoder.encode(x)
        if self.latent_scale is None:
            self.latent_scale = float(1.0 / z.std().clamp(min=1e-6))
        return z * self.latent_scale

    @torch.no_grad()
    def to_images(self, z: torch.Tensor) -> torch.Tensor:
        """Decode scaled latents ``(B, D)`` into images ``(B, C, H, W)`` in ``[-1, 1]``."""
        return self.autoencoder.decode(z / (self.latent_scale or 1.0)).clamp(-1, 1)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["latent_scale"] = self.latent_scale

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.latent_scale = checkpoint.get("latent_scale", self.latent_scale)


def load_autoencoder(path: str, image_shape: Sequence[int]) -> tuple[nn.Module, dict[str, Any]]:
    """Load a frozen autoencoder/VAE from an ``lgen train`` checkpoint and check it fits this data.

    Returns the module and its spec ``{"class_path", "hparams"}``. Raises a CheckpointError for a
    missing/corrupt file, a model without ``encode``/``decode``, a conditional decoder or a
    different image shape.
    """
    from lightning_gen.checkpoints import load_model

    model = load_model(path, announce=False)  # the latent model announces its own checkpoint
    name = type(model).__name__
    if not (callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))):
        raise CheckpointError(
            f"{path} holds a {name}, which has no encode()/decode(); latent diffusion needs an autoencoder "
            "or VAE checkpoint (e.g. from `lgen train experiment=vae_mnist`)"
        )
    hp = dict(model.hparams)
    if hp.get("conditional"):
        raise CheckpointError(
            f"{path} holds a conditional {name}; latent diffusion needs an unconditional decoder"
        )
    if list(hp.get("image_shape", [])) != list(image_shape):
        raise CheckpointError(
            f"{path} was trained on images of shape {list(hp.get('image_shape', []))}, but this data has "
            f"{list(image_shape)}; train the autoencoder on the same data (and image_size)"
        )
    return model, {"class_path": class_path(model), "hparams": _primitive(hp)}


def _primitive(value: Any) -> Any:
    """Hyper-parameters as plain lists/dicts/scalars (tuples -> lists) so checkpoints load weights_only."""
    if isinstance(value, dict):
        return {str(k): _primitive(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_primitive(v) for v in value]
    return value
