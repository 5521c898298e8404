"""Denoising diffusion as a LightningModule: U-Net + noise schedule + objective + sampler.

One class covers unconditional DDPM, class-conditional DDPM with classifier-free guidance
(``conditional=true``: labels dropped with probability ``label_dropout`` during training) and
image-conditioned super-resolution (``low_res_factor > 1``: the upsampled low-res image is fed to
the U-Net as extra channels). Latent diffusion subclasses it in ``latent.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from lightning_gen.contracts import build_spec, merge_options, seeded_rng
from lightning_gen.diffusion.loss import diffusion_loss, get_weighting
from lightning_gen.diffusion.samplers import DDIM, Sampler, run_sampler
from lightning_gen.diffusion.sampling import guided, inpainting_projection
from lightning_gen.diffusion.schedule import NoiseSchedule
from lightning_gen.errors import ConfigError
from lightning_gen.networks.unet import UNet
from lightning_gen.validate import check_model_args


def sampler_spec(sampler: Sampler | dict[str, Any] | None) -> dict[str, Any]:
    """A sampler (object, spec dict or None = DDIM-50) as primitives, checked by building it once."""
    if sampler is None:
        sampler = DDIM()
    if isinstance(sampler, Sampler):
        return sampler.spec()
    try:
        return build_spec(dict(sampler), "model.sampler").spec()
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


class DiffusionModel(L.LightningModule):
    """DDPM training on images ``(B, C, H, W)`` in ``[-1, 1]``; sampling with a sampler object
    (``model.sampler``: DDPM, DDIM, DPM-Solver++, stored as import path + kwargs) and
    ``guidance_scale`` (conditional models), both overridable per ``sample`` call.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        timesteps: int = 1000,
        schedule: str = "linear",
        prediction: str = "epsilon",
        loss_weighting: str = "none",
        widths: Sequence[int] = (32, 64, 64),
        num_res_blocks: int = 1,
        attention: bool = True,
        conditional: bool = False,
        label_dropout: float = 0.1,
        guidance_scale: float = 1.0,
        low_res_factor: int = 1,
        sampler: Sampler | dict[str, Any] | None = None,
        clip_denoised: bool = True,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges: lightning_gen/validate.py
        super().__init__()
        if conditional and num_classes < 2:
            raise ConfigError(
                "a class-conditional diffusion model needs labelled data (num_classes >= 2); use model=ddpm"
            )
        if not 0.0 <= label_dropout <= 1.0:
            raise ConfigError(f"model.label_dropout={label_dropout} must be in [0, 1]")
        self.save_hyperparameters(ignore=["sampler"])
        self.save_hyperparameters({"sampler": sampler_spec(sampler)})  # primitives: weights_only
        self.schedule = NoiseSchedule(timesteps, schedule, prediction)
        self.weighting = get_weighting(loss_weighting)
        self.net = self.build_network()

    @property
    def condition_classes(self) -> int:
        """Classes this model can be asked for (``contracts.IsClassConditional``; 0: unconditional)."""
        return int(self.hparams.num_classes) if self.hparams.conditional else 0

    # -- pieces a subclass may replace -----------------------------------------------------------
    def build_network(self) -> nn.Module:
        """The denoiser ``net(x_t, t, y, cond)``; here a U-Net over the images."""
        hp = self.hparams
        c, h, _ = hp.image_shape
        return UNet(
            c,
            h,
            hp.widths,
            hp.num_res_blocks,
            hp.num_classes if hp.conditional else 0,
            cond_channels=c if hp.low_res_factor > 1 else 0,
            attention=hp.attention,
        )

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one example the diffusion runs on (an image here, a latent in ``latent.py``)."""
        return tuple(self.hparams.image_shape)

    def to_diffusion_space(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> the space the diffusion runs in (identity here; latents in ``latent.py``)."""
        return x

    def to_images(self, z: torch.Tensor) -> torch.Tensor:
        """Diffusion-space samples -> images in ``[-1, 1]``."""
        return z.clamp(-1, 1)

    # -- conditioning ------------------------------------------------------------------------------
    @property
    def null_label(self) -> int:
        """The label index meaning "unconditional" (classifier-free guidance)."""
        return self.hparams.num_classes

    def low_res_condition(self, x: torch.Tensor) -> torch.Tensor | None:
        """Super-resolution condition from full-size images: down- then up-sampled ``(B, C, H, W)``."""
        f = self.hparams.low_res_factor
        if f <= 1:
            return None
        return self.upsample(F.avg_pool2d(x, f))

    def upsample(self, low: torch.Tensor) -> torch.Tensor:
        """A low-res image ``(B, C, h, w)`` bilinearly resized to the model's image size."""
        return F.interpolate(
            low, size=tuple(self.hparams.image_shape[1:]), mode="bilinear", align_corners=False
        )

    def _labels(self, n: int, condition: Any) -> torch.Tensor | None:
        if not self.hparams.conditional:
            return None
        if condition is None:  # like the conditional VAE: uniform random classes
            return torch.randint(0, self.hparams.num_classes, (n,), device=self.device)
        return torch.as_tensor(condition, device=self.device).long().reshape(n)

    def _image_condition(self, n: int, condition: Any) -> torch.Tensor | None:
        if self.hparams.low_res_factor <= 1:
            return None
        if not (
            isinstance(condition, torch.Tensor) and condition.ndim == 4 and len(condition) == n
        ):
            raise ValueError(
                "this super-resolution model needs condition=<low-res images (n, C, h, w) in [-1, 1]>; "
                "use `lgen sample mode=super_resolution` or super_resolve()"
            )
        return self.upsample(condition.to(self.device).float())

    # -- training ----------------------------------------------------------------------------------
    def _loss(
        self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        cond = self.low_res_condition(x)
        z = self.to_diffusion_space(x)
        labels = y if self.hparams.conditional else None
        if labels is not None and self.training and self.hparams.label_dropout > 0:
            drop = torch.rand(labels.shape, device=labels.device) < self.hparams.label_dropout
            labels = torch.where(drop, torch.full_like(labels, self.null_label), labels)
        t = noise = None
        if generator is not None:  # deterministic validation loss
            t = torch.randint(0, self.schedule.timesteps, (len(z),), generator=generator).to(
                z.device
            )
            noise = torch.randn(z.shape, generator=generator).to(z.device)
        return diffusion_loss(
            lambda xt, tt: self.net(xt, tt, labels, cond),
            self.schedule,
            z,
            self.weighting,
            t,
            noise,
        )

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean diffusion loss of a batch ``(x, y)`` (``HasLoss``); timesteps, noise and label
        dropout come from ``generator`` when one is given (deterministic), else the global RNG."""
        x, y = batch
        with seeded_rng(generator, self.device):
            return self._loss(x, y, generator).mean()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, batch_idx, "test")

    def _eval(self, batch, batch_idx: int, stage: str) -> None:
        loss = self.loss(batch, generator=torch.Generator().manual_seed(batch_idx))
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    # -- sampling ----------------------------------------------------------------------------------
    @property
    def low_res_factor(self) -> int:
        """How much ``super_resolve`` upscales (1: not a super-resolution model)."""
        return int(self.hparams.low_res_factor)

    def sampling_options(self) -> dict[str, Any]:
        """Default options of ``sample`` as primitives: the sampler spec (+ guidance if conditional)."""
        options: dict[str, Any] = {"sampler": dict(self.hparams.sampler)}
        if self.hparams.conditional:
            options["guidance_scale"] = float(self.hparams.guidance_scale)
        return options

    def make_sampler(self, sampler: Sampler | dict[str, Any] | None = None) -> Sampler:
        """A sampler object: the model's default, a (partial) spec merged into it, or ``sampler``."""
        if isinstance(sampler, Sampler):
            return sampler
        spec = merge_options({"sampler": dict(self.hparams.sampler)}, {"sampler": sampler or {}})
        return build_spec(spec["sampler"], "sampler")

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        condition: Any = None,
        sampler: Sampler | dict[str, Any] | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
        known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``n`` images ``(n, C, H, W)`` in ``[-1, 1]`` with the default sampler or ``sampler``.

        ``sampler``: a ``Sampler`` or a spec ``{"_target_": ..., "steps": ...}`` (a partial spec
        such as ``{"steps": 20}`` changes the default sampler's options). ``condition``: class labels
        ``(n,)`` for a conditional model (random when None), low-res images ``(n, C, h, w)`` for a
        super-resolution model. ``known`` + ``mask`` (1 = keep) inpaint: the known pixels are kept
        at every step (diffusion in pixel space only).
        """
        hp = self.hparams
        if guidance_scale is not None and not hp.conditional:
            raise ValueError("guidance_scale applies to class-conditional models only; drop it")
        labels, cond = self._labels(n, condition), self._image_condition(n, condition)
        scale = hp.guidance_scale if guidance_scale is None else guidance_scale
        denoise = guided(lambda x, t, y: self.net(x, t, y, cond), labels, self.null_label, scale)
        x = torch.randn((n, *self.data_shape), generator=generator, device=self.device)
        project = None
        if known is not None:
            if mask is None or tuple(known.shape[1:]) != self.data_shape:
                raise ValueError(
                    f"inpainting needs known images of shape (n, {self.data_shape}) and a mask"
                )
            project = inpainting_projection(
                self.schedule, known.to(self.device), mask.to(self.device), generator
            )
        z = run_sampler(
            self.make_sampler(sampler),
            denoise,
            self.schedule,
            x,
            clip=1.0 if hp.clip_denoised and self.data_shape == tuple(hp.image_shape) else None,
            project=project,
            generator=generator,
        )
        return self.to_images(z)

    def inpaint(self, known: torch.Tensor, mask: torch.Tensor, **options: Any) -> torch.Tensor:
        """Fill the pixels of ``known`` ``(B, C, H, W)`` where ``mask`` (broadcastable, 1 = keep) is 0."""
        return self.sample(len(known), known=known, mask=mask, **options)

    def super_resolve(self, low_res: torch.Tensor, **options: Any) -> torch.Tensor:
        """Full-size images ``(B, C, H, W)`` from low-res ones ``(B, C, H/f, W/f)`` (super-resolution model)."""
        if self.low_res_factor <= 1:
            raise ValueError(
                "this diffusion model was not trained for super-resolution (model.low_res_factor=1); "
                "train one with experiment=sr_mnist"
            )
        return self.sample(len(low_res), condition=low_res, **options)
