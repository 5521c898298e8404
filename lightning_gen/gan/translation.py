"""Image-to-image translation GANs: Pix2Pix (paired) and CycleGAN (unpaired).

Batches are ``(target, source)`` = ``(B images, A images)`` (see ``data/paired.py``), so the shared
image callback calls ``sample(n, condition=source)`` and shows translations. Both log
``{stage}/l1``, ``{stage}/psnr``, ``{stage}/ssim`` of the translation against the target where
pairs exist (always for Pix2Pix; ``paired_metrics=true`` for CycleGAN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchmetrics.functional.image import peak_signal_noise_ratio

from lightning_gen.contracts import seeded_rng
from lightning_gen.gan.base import AdversarialModule, frozen_copy
from lightning_gen.gan.history import FakeHistory
from lightning_gen.gan.loss import cycle_loss, get_adversarial, identity_loss, real_fake_accuracy
from lightning_gen.images import to_unit_interval
from lightning_gen.metrics.ssim import ssim_per_image
from lightning_gen.networks.cyclegan import ResnetGenerator
from lightning_gen.networks.pix2pix import PatchDiscriminator, UNetGenerator
from lightning_gen.validate import check_model_args


def pair_metrics(fake: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """L1 (in ``[-1, 1]`` units), PSNR and SSIM (images mapped to ``[0, 1]``) of ``(B, C, H, W)`` pairs."""
    a, b = to_unit_interval(fake), to_unit_interval(target)
    return {
        "l1": (fake - target).abs().mean(),
        "psnr": peak_signal_noise_ratio(a, b, data_range=1.0),
        "ssim": ssim_per_image(a, b, data_range=1.0).mean(),  # torchmetrics' SSIM, separable
    }


def _source(condition: Any, n: int, who: str) -> torch.Tensor:
    if condition is None or not torch.is_tensor(condition) or condition.ndim != 4:
        raise ValueError(
            f"{who}.sample(n, condition=source) needs source images (B, C, H, W) to translate"
        )
    return condition[:n]


class Pix2Pix(AdversarialModule):
    """U-Net ``G(source)`` against a PatchGAN ``D(cat(source, image))``; G loss = adversarial +
    ``l1_weight`` * L1 to the paired target. ``in_channels`` (source) defaults to the target's."""

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        in_channels: int | None = None,
        g_widths: Sequence[int] = (64, 128),
        d_widths: Sequence[int] = (64, 128),
        dropout: float = 0.5,
        loss: str = "non_saturating",
        l1_weight: float = 100.0,
        g_lr: float = 2e-4,
        d_lr: float = 2e-4,
        betas: Sequence[float] = (0.5, 0.999),
        ema_decay: float = 0.0,
        grad_clip: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges: lightning_gen/validate.py
        super().__init__()
        self.save_hyperparameters()
        c, h, _ = image_shape
        cin = in_channels or c
        self.adversarial = get_adversarial(loss)
        self.generator = UNetGenerator(cin, c, h, g_widths, dropout)
        self.discriminator = PatchDiscriminator(cin + c, h, d_widths)
        self.g_ema = frozen_copy(self.generator) if ema_decay > 0 else None

    def generators(self) -> list[nn.Module]:
        return [self.generator]

    def discriminators(self) -> list[nn.Module]:
        return [self.discriminator]

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None) -> torch.Tensor:
        """Translate the first ``n`` source images ``condition`` ``(B, Cin, H, W)`` -> ``(n, C, H, W)``."""
        g = self.g_ema if self.g_ema is not None else self.generator
        return g(_source(condition, n, "Pix2Pix").to(self.device)).clamp(-1, 1)

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """L1 between the translation of the batch's sources and its targets ``(target, source)``
        (``HasLoss``: the supervised term); dropout draws from ``generator`` when one is given."""
        target, source = batch
        with seeded_rng(generator, self.device):
            return (self.generator(source) - target).abs().mean()

    def training_step(self, batch, batch_idx: int) -> None:
        target, source = batch
        opt_g, opt_d = self.optimizers()
        fake = self.generator(source)  # (B, C, H, W), keeps its graph for the G step
        real_logits = self.discriminator(torch.cat([source, target], 1))
        fake_logits = self.discriminator(torch.cat([source, fake.detach()], 1))
        d_loss = self.adversarial.d_loss(real_logits, fake_logits)
        self.optimizer_step_on(opt_d, d_loss, [self.discriminator], [self.generator], "d")
        real_acc, fake_acc = real_fake_accuracy(real_logits, fake_logits)

        g_adv = self.adversarial.g_loss(self.discriminator(torch.cat([source, fake], 1)))
        l1 = (fake - target).abs().mean()
        g_loss = g_adv + self.hparams.l1_weight * l1
        self.optimizer_step_on(opt_g, g_loss, [self.generator], [self.discriminator], "g")
        self.update_ema(self.g_ema, self.generator)
        self.log_train(
            {
                "train/d_real_acc": real_acc,
                "train/d_fake_acc": fake_acc,
                "train/g_adv": g_adv.detach(),
                "train/l1": l1.detach(),
            }
        )
        self.log_train(
            {"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach()}, prog_bar=True
        )

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "test")

    def _eval(self, batch, stage: str) -> None:
        target, source = batch
        m = pair_metrics(self.sample(len(source), condition=source), target)
        self.log_dict(
            {f"{stage}/{k}": v for k, v in m.items()} | {f"{stage}/loss": m["l1"]}, sync_dist=True
        )


class CycleGAN(AdversarialModule):
    """Two ResNet generators ``G_AB``, ``G_BA`` and two PatchGAN discriminators ``D_A``, ``D_B``;
    G loss = adversarial (both directions) + ``cycle_weight`` * cycle L1 + ``identity_weight`` *
    ``cycle_weight`` * identity L1. Discriminators see fakes from a history buffer."""

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        width: int = 32,
        downsamples: int = 2,
        blocks: int = 4,
        d_widths: Sequence[int] = (64, 128),
        loss: str = "least_squares",
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        history_size: int = 50,
        paired_metrics: bool = False,
        g_lr: float = 2e-4,
        d_lr: float = 2e-4,
        betas: Sequence[float] = (0.5, 0.999),
        ema_decay: float = 0.0,
        grad_clip: float = 0.0,
    ) -> None:
        check_model_args(locals())  # ranges: lightning_gen/validate.py
        super().__init__()
        self.save_hyperparameters()
        c, h, _ = image_shape
        self.adversarial = get_adversarial(loss)
        self.g_ab = ResnetGenerator(c, c, h, width, downsamples, blocks)
        self.g_ba = ResnetGenerator(c, c, h, width, downsamples, blocks)
        self.d_a = PatchDiscriminator(c, h, d_widths)
        self.d_b = PatchDiscriminator(c, h, d_widths)
        self.g_ema = frozen_copy(self.g_ab) if ema_decay > 0 else None
        self.history_a, self.history_b = FakeHistory(history_size), FakeHistory(history_size)

    def generators(self) -> list[nn.Module]:
        return [self.g_ab, self.g_ba]

    def discriminators(self) -> list[nn.Module]:
        return [self.d_a, self.d_b]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The pools of past fakes are training state: saved for an exact resume."""
        checkpoint["fake_history"] = {
            "a": self.history_a.state_dict(),
            "b": self.history_b.state_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        pools = checkpoint.get("fake_history")
        if pools is not None:
            self.history_a.load_state_dict(pools["a"], self.device)
            self.history_b.load_state_dict(pools["b"], self.device)

    @torch.no_grad()
    def sample(self, n: int, *, condition: Any = None) -> torch.Tensor:
        """Translate the first ``n`` domain-A images ``condition`` to domain B: ``(n, C, H, W)``."""
        g = self.g_ema if self.g_ema is not None else self.g_ab
        return g(_source(condition, n, "CycleGAN").to(self.device)).clamp(-1, 1)

    def generator_losses(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """All generator terms for domain batches ``a``, ``b`` ``(B, C, H, W)``; ``g_loss`` is the total."""
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        adv = self.adversarial.g_loss(self.d_b(fake_b)) + self.adversarial.g_loss(self.d_a(fake_a))
        cyc = (self.g_ba(fake_b) - a).abs().mean() + (self.g_ab(fake_a) - b).abs().mean()
        out = {"g_adv": adv, "cycle": cyc, "fake_a": fake_a, "fake_b": fake_b}
        w = self.hparams.cycle_weight
        g_loss = adv + w * cyc
        if self.hparams.identity_weight > 0:
            out["identity"] = identity_loss(self.g_ab, self.g_ba, a, b)
            g_loss = g_loss + self.hparams.identity_weight * w * out["identity"]
        out["g_loss"] = g_loss
        return out

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Cycle-consistency L1 (both directions) of a batch ``(b, a)`` (``HasLoss``)."""
        b, a = batch
        with seeded_rng(generator, self.device):
            return cycle_loss(self.g_ab, self.g_ba, a, b)

    def training_step(self, batch, batch_idx: int) -> None:
        b, a = batch
        opt_g, opt_d = self.optimizers()
        g = self.generator_losses(a, b)
        self.optimizer_step_on(opt_g, g["g_loss"], self.generators(), self.discriminators(), "g")
        self.update_ema(self.g_ema, self.g_ab)

        fake_a, fake_b = self.history_a.query(g["fake_a"]), self.history_b.query(g["fake_b"])
        ra, fa, rb, fb = self.d_a(a), self.d_a(fake_a), self.d_b(b), self.d_b(fake_b)
        d_loss = self.adversarial.d_loss(ra, fa) + self.adversarial.d_loss(rb, fb)
        self.optimizer_step_on(opt_d, d_loss, self.discriminators(), self.generators(), "d")
        real_acc, fake_acc = real_fake_accuracy(
            torch.cat([ra.flatten(), rb.flatten()]), torch.cat([fa.flatten(), fb.flatten()])
        )
        logs = {
            f"train/{k}": v.detach() for k, v in g.items() if k in ("g_adv", "cycle", "identity")
        }
        self.log_train(logs | {"train/d_real_acc": real_acc, "train/d_fake_acc": fake_acc})
        self.log_train(
            {"train/d_loss": d_loss.detach(), "train/g_loss": g["g_loss"].detach()}, prog_bar=True
        )

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "test")

    def _eval(self, batch, stage: str) -> None:
        """``{stage}/loss`` = cycle L1 (both directions); per-pair metrics if ``paired_metrics``."""
        b, a = batch
        cyc = cycle_loss(self.g_ab, self.g_ba, a, b)
        logs = {f"{stage}/cycle": cyc, f"{stage}/loss": cyc}
        if self.hparams.paired_metrics:
            logs |= {
                f"{stage}/{k}": v
                for k, v in pair_metrics(self.sample(len(a), condition=a), b).items()
            }
        self.log_dict(logs, sync_dist=True)
