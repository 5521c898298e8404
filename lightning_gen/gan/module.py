"""Noise-to-image GANs in one LightningModule: DCGAN, WGAN-GP, conditional GAN (projection
discriminator) and the style-based GAN are configurations of ``GAN`` (see ``configs/model``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lightning_gen.contracts import seeded_rng
from lightning_gen.errors import ConfigError
from lightning_gen.gan.base import AdversarialModule, frozen_copy
from lightning_gen.gan.loss import get_adversarial, gradient_penalty, r1_penalty, real_fake_accuracy
from lightning_gen.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from lightning_gen.networks.stylegan import StyleGenerator
from lightning_gen.validate import check_model_args

GENERATORS: dict[str, type[nn.Module]] = {"dcgan": DCGANGenerator, "style": StyleGenerator}


class GAN(AdversarialModule):
    """Generator ``G(z[, y])`` against discriminator ``D(x[, y])``.

    - ``generator``: ``dcgan`` (transposed convs + BatchNorm) or ``style`` (mapping network,
      modulated convs, noise inputs).
    - ``loss``: ``non_saturating`` | ``hinge`` | ``wgan`` | ``least_squares``.
    - ``gp_weight`` > 0: WGAN-GP gradient penalty; ``r1_gamma`` > 0: R1 penalty ``gamma/2 E|grad D(x)|^2``.
    - ``n_critic``: D steps per G step; ``g_lr`` != ``d_lr``: TTUR; ``ema_decay`` > 0: sample from
      an EMA copy of G (kept in the checkpoint); ``conditional``: class labels for G and a
      projection D.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        latent_dim: int = 64,
        generator: str = "dcgan",
        g_widths: Sequence[int] = (64, 128),
        d_widths: Sequence[int] = (64, 128),
        loss: str = "non_saturating",
        conditional: bool = False,
        n_critic: int = 1,
        gp_weight: float = 0.0,
        r1_gamma: float = 0.0,
        spectral_norm: bool = False,
        g_lr: float = 2e-4,
        d_lr: float = 2e-4,
        betas: Sequence[float] = (0.5, 0.999),
        ema_decay: float = 0.999,
        grad_clip: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges: lightning_gen/validate.py
        super().__init__()
        if conditional and num_classes < 2:
            raise ConfigError(
                "a conditional GAN needs labelled data (num_classes >= 2); use model=dcgan instead"
            )
        if generator not in GENERATORS:
            raise ConfigError(
                f"model.generator={generator!r} is not a generator; choose one of {sorted(GENERATORS)}"
            )
        if n_critic < 1:
            raise ConfigError(f"model.n_critic must be >= 1, got {n_critic}")
        self.save_hyperparameters()
        c, h, _ = image_shape
        k = num_classes if conditional else 0
        self.adversarial = get_adversarial(loss)
        self.generator = GENERATORS[generator](latent_dim, c, h, g_widths, num_classes=k)
        self.discriminator = DCGANDiscriminator(
            c, h, d_widths, num_classes=k, spectral_norm=spectral_norm
        )
        self.g_ema = frozen_copy(self.generator) if ema_decay > 0 else None

    @property
    def condition_classes(self) -> int:
        """Classes this model can be asked for (``contracts.IsClassConditional``; 0: unconditional)."""
        return int(self.hparams.num_classes) if self.hparams.conditional else 0

    def generators(self) -> list[nn.Module]:
        return [self.generator]

    def discriminators(self) -> list[nn.Module]:
        return [self.discriminator]

    # -- contract ------------------------------------------------------------------------
    def _labels(self, y: Any, n: int) -> torch.Tensor | None:
        if not self.hparams.conditional:
            return None
        if y is None:
            return torch.randint(0, self.hparams.num_classes, (n,), device=self.device)
        return torch.as_tensor(y, device=self.device).long()

    def generate(
        self, z: torch.Tensor, labels: torch.Tensor | None, use_ema: bool = False
    ) -> torch.Tensor:
        """Images ``(B, C, H, W)`` (unclamped for the style generator) from noise ``(B, latent_dim)``."""
        g = self.g_ema if use_ema and self.g_ema is not None else self.generator
        return g(z, labels)

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None) -> torch.Tensor:
        """``n`` images in ``[-1, 1]`` from the EMA generator (if any); a conditional GAN draws uniform
        labels when ``condition`` (class indices ``(n,)``) is None."""
        z = torch.randn(n, self.hparams.latent_dim, device=self.device)
        return self.generate(z, self._labels(condition, n), use_ema=True).clamp(-1, 1)

    # -- losses ----------------------------------------------------------------------------
    def d_losses(
        self, x: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Discriminator objective on reals ``x`` and (detached) fakes: ``d_loss`` plus parts."""
        critic = lambda im: self.discriminator(im, y)  # noqa: E731
        real_logits, fake_logits = critic(x), critic(fake.detach())
        out = {"d_adv": self.adversarial.d_loss(real_logits, fake_logits)}
        out["d_real_acc"], out["d_fake_acc"] = real_fake_accuracy(real_logits, fake_logits)
        d_loss = out["d_adv"]
        if self.hparams.gp_weight > 0 and torch.is_grad_enabled():
            out["gp"] = gradient_penalty(critic, x, fake)
            d_loss = d_loss + self.hparams.gp_weight * out["gp"]
        if self.hparams.r1_gamma > 0 and torch.is_grad_enabled():
            out["r1"] = r1_penalty(critic, x)
            d_loss = d_loss + 0.5 * self.hparams.r1_gamma * out["r1"]
        if (
            self.hparams.loss == "wgan" and self.hparams.gp_weight > 0
        ):  # drift term keeps logits near 0
            d_loss = d_loss + 1e-3 * real_logits.pow(2).mean()
        out["d_loss"] = d_loss
        return out

    def g_loss(self, n: int, y: torch.Tensor | None) -> torch.Tensor:
        """Generator adversarial loss on ``n`` fresh fakes."""
        fake = self.generate(torch.randn(n, self.hparams.latent_dim, device=self.device), y)
        return self.adversarial.g_loss(self.discriminator(fake, y))

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Discriminator adversarial loss on the reals of ``batch`` ``(x, labels)`` and as many
        fakes (``HasLoss``); noise and drawn labels come from ``generator`` when one is given."""
        x, labels = batch
        with seeded_rng(generator, self.device):
            y = self._labels(labels, len(x))
            z = torch.randn(len(x), self.hparams.latent_dim, device=self.device)
            return self.d_losses(x, self.generate(z, y), y)["d_adv"]

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> None:
        x, labels = batch
        y = self._labels(labels, len(x))
        opt_g, opt_d = self.optimizers()
        with torch.no_grad():
            fake = self.generate(
                torch.randn(len(x), self.hparams.latent_dim, device=self.device), y
            )
        d = self.d_losses(x, fake, y)
        self.optimizer_step_on(opt_d, d["d_loss"], [self.discriminator], [self.generator], "d")
        self.log_train({f"train/{k}": v.detach() for k, v in d.items() if k != "d_loss"})
        self.log_train({"train/d_loss": d["d_loss"].detach()}, prog_bar=True)
        if (batch_idx + 1) % self.hparams.n_critic == 0:
            g_loss = self.g_loss(len(x), y)
            self.optimizer_step_on(opt_g, g_loss, [self.generator], [self.discriminator], "g")
            self.log_train({"train/g_loss": g_loss.detach()}, prog_bar=True)
            self.update_ema(self.g_ema, self.generator)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "test")

    def _eval(self, batch, stage: str) -> None:
        """D and G losses on held-out reals and fresh fakes; ``{stage}/loss`` is the G loss."""
        x, labels = batch
        y = self._labels(labels, len(x))
        fake = self.generate(torch.randn(len(x), self.hparams.latent_dim, device=self.device), y)
        d = self.d_losses(x, fake, y)
        g = self.adversarial.g_loss(self.discriminator(fake, y))
        self.log_dict(
            {
                f"{stage}/d_loss": d["d_loss"],
                f"{stage}/g_loss": g,
                f"{stage}/loss": g,
                f"{stage}/d_real_acc": d["d_real_acc"],
                f"{stage}/d_fake_acc": d["d_fake_acc"],
            },
            sync_dist=True,
        )
