"""Small helpers shared by callbacks (calling contract methods: ``lightning_gen.contracts``)."""

from __future__ import annotations

from typing import Any

import lightning as L


class PeriodicWriter(L.Callback):
    """Base for callbacks that write pictures: calls ``write(trainer, pl_module, tag)`` after every
    ``every_n_epochs``-th validation epoch (tag ``epoch<E>``, not during the sanity check) and after
    test (tag ``test``). Subclasses set ``every_n_epochs`` and implement ``write``."""

    every_n_epochs: int = 1

    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> Any:
        raise NotImplementedError

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        self.write(trainer, pl_module, f"epoch{trainer.current_epoch:03d}")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.write(trainer, pl_module, "test")
