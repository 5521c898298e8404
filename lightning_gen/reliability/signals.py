"""Graceful stop: SIGTERM, SIGINT and SLURM's SIGUSR1 save a resumable checkpoint, then stop.

The handler only records the signal; at the end of the current training batch ``GracefulStop``
writes ``<run>/checkpoints/last.ckpt`` (atomically) and has Lightning stop once that batch's metrics
are logged (``SIGTERMException``); ``lgen train`` then raises ``RunInterrupted``, printed as a
one-line message with the resume command. Under SLURM (``SLURM_JOB_ID`` set) SIGUSR1
also requeues the job with ``scontrol requeue``; the requeued job resumes with ``resume=<run dir>``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lightning_gen.callbacks.last_checkpoint import last_checkpoint_path

STOP_SIGNALS: tuple[str, ...] = ("SIGTERM", "SIGINT", "SIGUSR1")


class RunInterrupted(Exception):
    """Training stopped on a signal after saving ``checkpoint``."""

    def __init__(self, signame: str, step: int, checkpoint: str) -> None:
        super().__init__(
            f"stopped by {signame} at step {step}; resumable checkpoint saved to {checkpoint}"
        )
        self.signame, self.step, self.checkpoint = signame, step, checkpoint


def slurm_requeue() -> int | None:
    """``scontrol requeue <job>`` when running under SLURM; its exit code, or None outside SLURM."""
    job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    if not job:
        return None
    try:
        return subprocess.call(["scontrol", "requeue", job])
    except FileNotFoundError:
        rank_zero_warn(
            "SLURM job but no `scontrol` on PATH: not requeued; resume by hand with resume=<run dir>"
        )
        return 127


class GracefulStop(L.Callback):
    """Save ``last.ckpt`` and stop at the end of the batch during which a stop signal arrived.

    During the last batch of an epoch (or its validation) the stop waits for the epoch's validation
    to finish, so the resumed run neither repeats nor loses it. A signal before training starts
    (data loading, sanity check) stops the run the usual way: there is nothing to save yet.
    """

    # after every other callback (``instantiate_group``): the checkpoint saved at a batch end then
    # includes that batch's weight-average update
    run_last = True

    def __init__(
        self,
        signals: list[str] | tuple[str, ...] = STOP_SIGNALS,
        requeue_on: str | None = "SIGUSR1",
    ) -> None:
        self.signals = [s for s in signals if hasattr(signal, s)]
        self.requeue_on = requeue_on
        self.received: str | None = None
        self.interrupted: RunInterrupted | None = None
        self._previous: dict[int, Any] = {}  # handlers we replaced while training

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Install the handlers after Lightning's own, replacing them for the run: Lightning's SIGTERM
        handler would abort a running validation and stop without a checkpoint."""
        if threading.current_thread() is not threading.main_thread():
            return
        for name in self.signals:
            num = getattr(signal, name)
            self._previous[num] = signal.signal(num, self._handle)

    def _restore(self) -> None:
        for num, handler in self._previous.items():
            signal.signal(num, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore()

    def _any_rank_received(self, trainer: L.Trainer) -> bool:
        """Did any rank get a stop signal? Under DDP all ranks agree (one tiny all-reduce per batch),
        so they save and stop at the same step instead of one rank waiting for the others."""
        if trainer.world_size > 1:
            if trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
                self.received = self.received or "a stop signal on another rank"
        return self.received is not None

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Mid-epoch: save now. On the epoch's last batch: let its validation run, save at epoch end."""
        if (
            self._any_rank_received(trainer)
            and not trainer.fit_loop.epoch_loop._num_ready_batches_reached()
        ):
            self._stop(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._any_rank_received(trainer):
            self._stop(trainer)

    def _stop(self, trainer: L.Trainer) -> None:
        if self.interrupted is None:
            self._save_and_stop(trainer)
            # Lightning stops right after this batch's / epoch's metrics are logged and flushed
            trainer._signal_connector.received_sigterm = True

    def _save_and_stop(self, trainer: L.Trainer) -> RunInterrupted:
        path = last_checkpoint_path(trainer)
        trainer.save_checkpoint(path, weights_only=False)
        rank_zero_info(f"{self.received}: saved {path} at step {trainer.global_step}")
        if self.received == self.requeue_on and trainer.is_global_zero:  # one requeue per job
            code = slurm_requeue()
            if code is not None:
                rank_zero_info(f"SLURM requeue exit code {code}")
        self.interrupted = RunInterrupted(self.received, trainer.global_step, str(path))
        return self.interrupted
