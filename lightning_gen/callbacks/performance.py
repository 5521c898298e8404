"""The GPU path as options (``perf`` config node): one callback applies them all.

- ``channels_last``: every 4-D weight of the model in ``torch.channels_last`` memory format
  (convolutions then run, and return activations, in NHWC: faster on tensor cores).
- ``compile``: each network (a direct child module of the model that has parameters) is compiled
  in place with ``nn.Module.compile``; the module is not wrapped, so ``state_dict`` keys stay as
  they are and checkpoints load into a plain model (``lgen sample``/``evaluate``, resume).
- ``matmul_precision``: ``torch.set_float32_matmul_precision`` for the run (``high`` = TF32 on
  Ampere and later); the previous value is put back at teardown.
- ``fused_optimizer``: every optimizer that has a fused kernel (Adam, AdamW, ...) steps with
  ``fused=True``. Set at train start, after a resumed optimizer state is loaded (that state
  carries the old run's flags), so the option of this run always decides.

An option with nothing to act on (``channels_last`` on a model without 4-D weights, e.g. a
Transformer; ``fused_optimizer`` with an optimizer without a fused kernel) is not an error, so that
one preset (``perf=gpu``) serves every family: it is named in the one-line summary printed at
train start. Wrong values are errors naming the key.
"""

from __future__ import annotations

from typing import Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from lightning_gen.errors import ConfigError

MATMUL_PRECISIONS = ("highest", "high", "medium")


def networks(model: nn.Module) -> dict[str, nn.Module]:
    """The model's networks: its direct child modules that hold parameters, by attribute name."""
    return {n: c for n, c in model.named_children() if any(True for _ in c.parameters())}


def to_channels_last(model: nn.Module) -> int:
    """Put every 4-D parameter/buffer of ``model`` in channels_last format; returns how many."""
    count = sum(1 for t in [*model.parameters(), *model.buffers()] if t.ndim == 4)
    if count:
        model.to(memory_format=torch.channels_last)
    return count


def fuse_optimizer(opt: torch.optim.Optimizer) -> bool:
    """Make ``opt`` step with its fused kernel (``fused=True``); False if it has none."""
    if "fused" not in opt.defaults:
        return False
    opt.defaults.update(fused=True, foreach=False)
    for group in opt.param_groups:
        group.update(fused=True, foreach=False)  # fused and foreach are exclusive
    return True


class PerformanceOptions(L.Callback):
    """Apply the ``perf`` options to the model, torch and the optimizers (see the module doc).

    ``compile_backend``/``compile_mode`` go to ``torch.compile`` (tests use ``backend="eager"``
    for speed; ``inductor`` is the real one). Raises ``ConfigError`` for a wrong value.
    """

    def __init__(
        self,
        channels_last: bool = False,
        compile: bool = False,
        compile_backend: str = "inductor",
        compile_mode: str | None = None,
        matmul_precision: Literal["highest", "high", "medium"] = "highest",
        fused_optimizer: bool = False,
    ) -> None:
        if matmul_precision not in MATMUL_PRECISIONS:
            raise ConfigError(
                f"perf.matmul_precision={matmul_precision!r} is not one of "
                f"{', '.join(MATMUL_PRECISIONS)} (high = TF32 matmuls)"
            )
        if compile_mode is not None and not compile:
            raise ConfigError(
                f"perf.compile_mode={compile_mode!r} is set but perf.compile=false; "
                "set perf.compile=true or perf.compile_mode=null"
            )
        self.channels_last, self.compile = channels_last, compile
        self.compile_backend, self.compile_mode = compile_backend, compile_mode
        self.matmul_precision, self.fused_optimizer = matmul_precision, fused_optimizer
        self.summary: dict[str, str] = {}
        self._previous_precision: str | None = None
        self._applied = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Set the matmul precision, convert and compile the networks (once per model)."""
        if self._previous_precision is None:
            self._previous_precision = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision(self.matmul_precision)
        self.summary["precision"] = str(trainer.precision)
        self.summary["matmul_precision"] = self.matmul_precision
        if self._applied:
            return
        self._applied = True
        if self.channels_last:
            n = to_channels_last(pl_module)
            self.summary["channels_last"] = f"on ({n} 4-D tensors)" if n else "nothing to convert"
        if self.compile:
            nets = networks(pl_module)
            for net in nets.values():
                net.compile(backend=self.compile_backend, mode=self.compile_mode)
            self.summary["compile"] = f"{self.compile_backend} ({', '.join(nets) or 'no network'})"

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Fuse the optimizers (after a resumed state is loaded) and print the summary once."""
        if self.fused_optimizer:
            kinds = [f"{type(o).__name__}{'' if fuse_optimizer(o) else ' (no fused kernel)'}"
                     for o in trainer.optimizers]  # fmt: skip
            self.summary["fused_optimizer"] = ", ".join(kinds) or "no optimizer"
        self._print_summary()

    @rank_zero_only
    def _print_summary(self) -> None:
        if (
            self.channels_last
            or self.compile
            or self.fused_optimizer
            or (self.matmul_precision != "highest")
        ):
            print("perf: " + "; ".join(f"{k}={v}" for k, v in self.summary.items()), flush=True)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Put the process-wide matmul precision back as it was before ``setup``."""
        if self._previous_precision is not None:
            torch.set_float32_matmul_precision(self._previous_precision)
            self._previous_precision = None
