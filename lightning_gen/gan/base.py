"""What every GAN module shares: one manual optimisation step, EMA of a generator, TTUR optimisers.

Manual optimisation (as in Lightning's GAN example), made safe for DDP without
``find_unused_parameters``: a generator step back-propagates through the discriminator, so every
parameter gets a gradient; a discriminator step adds ``0 * (one weight of each generator parameter)``
(``touch``) so the generators are "used" too. Gradients are cleared before each backward, so the
stray gradients never reach an optimiser. A non-finite loss is logged (the divergence callback stops
the run) and its optimiser step is skipped, so the weights stay finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import lightning as L
import torch
from torch import nn


def touch(loss: torch.Tensor, *modules: nn.Module) -> torch.Tensor:
    """``loss + 0 * sum(first element of every trainable parameter)``: same value, and every
    parameter of ``modules`` is in the graph (DDP then expects and gets a (zero) gradient for it)."""
    params = [p.view(-1)[0] for m in modules for p in m.parameters() if p.requires_grad]
    return loss + 0.0 * torch.stack(params).sum() if params else loss


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers (BN statistics) are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy with ``requires_grad=False`` everywhere (for an EMA generator)."""
    import copy

    clone = copy.deepcopy(module)
    clone.requires_grad_(False)
    return clone


class AdversarialModule(L.LightningModule):
    """Base for GAN LightningModules (manual optimisation). Subclasses define ``generators()``
    and ``discriminators()`` (lists of modules) and read ``g_lr``, ``d_lr``, ``betas``,
    ``grad_clip``, ``ema_decay`` from ``self.hparams``."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))

    def generators(self) -> list[nn.Module]:
        raise NotImplementedError

    def discriminators(self) -> list[nn.Module]:
        raise NotImplementedError

    # -- one optimiser step --------------------------------------------------------------
    def optimizer_step_on(
        self,
        opt,
        loss: torch.Tensor,
        modules: Sequence[nn.Module],
        others: Sequence[nn.Module],
        name: str,
    ) -> None:
        """Backward ``loss`` (touching ``others`` for DDP), log ``train/{name}_grad_norm``, clip, step.

        ``modules`` own the parameters of ``opt``. The step is skipped when ``loss`` is not finite.
        """
        opt.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss.detach()))
        if not finite:
            return
        world = self._trainer.world_size if self._trainer is not None else 1
        self.manual_backward(touch(loss, *others) if world > 1 else loss)
        clip = self.hparams.get("grad_clip") or math.inf
        if clip < math.inf or self.logs_this_step():
            params = [p for m in modules for p in m.parameters() if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, clip) if params else torch.zeros(())
            self.log_train({f"train/{name}_grad_norm": norm})
        opt.step()
        opt.zero_grad(set_to_none=True)

    # -- cheap per-step logging -------------------------------------------------------------
    def logs_this_step(self) -> bool:
        """True when this training step's logged values reach the loggers: Lightning's rule (every
        ``trainer.log_every_n_steps``-th training batch of the fit, counted over epochs and resumes,
        and the last one before a stop), from public Trainer state; True outside ``fit``."""
        trainer = self._trainer
        if trainer is None or not trainer.training:
            return True
        every = trainer.log_every_n_steps
        if every == 0:
            return False
        batch = trainer.fit_loop.epoch_loop.total_batch_idx + 1  # 1-based over the whole fit
        return batch % every == 0 or trainer.should_stop

    def log_train(self, values: dict[str, torch.Tensor], prog_bar: bool = False) -> None:
        """``self.log_dict(values)`` (on step) on logging steps, or when a value is not finite."""
        if not self.logs_this_step():
            flat = torch.stack(
                [torch.as_tensor(v, dtype=torch.float32).reshape(()) for v in values.values()]
            )
            if bool(torch.isfinite(flat).all()):
                return
        self.log_dict(values, prog_bar=prog_bar, on_step=True, on_epoch=False)

    def update_ema(self, ema: nn.Module | None, model: nn.Module) -> None:
        """EMA update with warm-up ``decay_t = min(decay, (1 + t) / (10 + t))`` over G steps."""
        if ema is None:
            return
        t = int(self.ema_steps.item())
        ema_update(ema, model, min(self.hparams.ema_decay, (1 + t) / (10 + t)))
        self.ema_steps += 1

    # -- optimisers: TTUR = different g_lr and d_lr ------------------------------------
    def configure_optimizers(self):
        betas = tuple(self.hparams.get("betas", (0.5, 0.999)))
        g_params: Iterable = [p for m in self.generators() for p in m.parameters()]
        d_params: Iterable = [p for m in self.discriminators() for p in m.parameters()]
        opt_g = torch.optim.Adam(g_params, lr=self.hparams.g_lr, betas=betas)
        opt_d = torch.optim.Adam(d_params, lr=self.hparams.d_lr, betas=betas)
        return [opt_g, opt_d]
