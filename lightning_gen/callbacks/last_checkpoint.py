"""``LastCheckpoint``: ``<run>/checkpoints/last.ckpt`` always holds the run's latest state.

It is written (atomically, through the trainer's ``AtomicCheckpointIO``)

- every ``every_n_train_batches`` training batches (mid-epoch). Batches, not
  ``trainer.global_step``: a GAN's manual optimisation advances ``global_step`` once per
  optimiser (twice per batch), so a step interval would mean twice as often for GANs;
- at the end of every training epoch (after its validation, so the best-checkpoint state,
  early-stopping counters and metrics are those of the finished epoch);
- when training ends, whatever ends it: ``max_epochs`` (the epoch-end save), ``max_steps`` or
  ``max_time`` or an early stop in the middle of an epoch (saved at the end of the final
  training batch, i.e. as a mid-epoch checkpoint: a resume with a larger limit continues
  exactly as an uninterrupted run with that limit would), a stop signal (``GracefulStop`` saves
  through ``last_checkpoint_path``), and ``on_train_end`` as the last resort. A resume of a
  finished run trains nothing and leaves ``last.ckpt`` as it was.

So the weights, optimizer states, RNG states and loader position in ``last.ckpt`` are exactly
the ones training ended with, and ``lgen sample`` / ``evaluate`` / ``analyze`` / ``resume=``
(which all read a run folder's ``last.ckpt``, see ``lightning_gen.checkpoints``) use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from lightning_gen.checkpoints import LAST_NAME


def last_checkpoint_path(trainer: L.Trainer) -> Path:
    """``last.ckpt`` in the ``LastCheckpoint`` folder (else a checkpoint callback's, else
    ``<default_root_dir>/checkpoints``)."""
    folders = [getattr(c, "dirpath", None) for c in trainer.checkpoint_callbacks]
    last = [c.dirpath for c in trainer.callbacks if isinstance(c, LastCheckpoint)]
    folder = next((f for f in [*last, *folders] if f), None)
    return Path(folder or Path(trainer.default_root_dir) / "checkpoints") / LAST_NAME


class LastCheckpoint(Checkpoint):
    """Keep ``<dirpath>/last.ckpt`` current (see the module docstring for when it is written).

    ``every_n_train_batches``: mid-epoch interval in training batches (``None`` or 0: only at
    epoch ends and when training ends). A ``Checkpoint`` subclass, so Lightning runs it after
    the other callbacks (EMA updates, best-checkpoint bookkeeping) at every hook.
    """

    def __init__(self, dirpath: str | Path, every_n_train_batches: int | None = 100) -> None:
        if every_n_train_batches is not None and every_n_train_batches < 0:
            raise ValueError(
                f"callbacks.last_checkpoint.every_n_train_batches={every_n_train_batches} "
                "must be >= 0 (0 or null: only at epoch ends and when training ends)"
            )
        self.dirpath = Path(dirpath)
        self.every_n_train_batches = every_n_train_batches or 0
        self.saved_step: int | None = None  # global_step of the last save in this process
        self._ended_mid_epoch = False
        self._batches_run = 0  # training batches run in this process (0: a no-op resume)

    @property
    def path(self) -> Path:
        return self.dirpath / LAST_NAME

    def save(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` now (all ranks call this; rank 0 writes)."""
        trainer.save_checkpoint(self.path, weights_only=False)
        self.saved_step = trainer.global_step

    @staticmethod
    def _training_ends_after_this_batch(trainer: L.Trainer) -> bool:
        fit = trainer.fit_loop
        steps_done = fit.max_steps not in (None, -1) and trainer.global_step >= fit.max_steps
        return steps_done or (trainer.should_stop and fit._can_stop_early)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        self._batches_run += 1
        if trainer.fit_loop.epoch_loop._num_ready_batches_reached():
            return  # the epoch-end save follows, after the epoch's validation
        if self._training_ends_after_this_batch(trainer):
            self._ended_mid_epoch = True
            self.save(trainer)
            return
        n = self.every_n_train_batches
        if n and trainer.fit_loop.epoch_loop.batch_progress.total.ready % n == 0:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._ended_mid_epoch:
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Last resort; a resume of a finished run (no batch run) leaves ``last.ckpt`` untouched."""
        if self._batches_run and self.saved_step != trainer.global_step:
            self.save(trainer)
