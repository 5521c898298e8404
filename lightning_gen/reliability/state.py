"""``RunState``: what a checkpoint needs beyond Lightning's own state for an exact resume.

Stored under ``checkpoint["lgen"]`` as plain data (loads with ``weights_only=True``):

- ``model_class``: the family's import path (checked on resume and load, see ``compat``);
- ``rng``: torch / numpy / python RNG states at save time, restored when training restarts;
- ``rng_per_rank``: under DDP, every rank's ``rng`` (in rank order; only rank 0 writes the file),
  so each rank continues its own stream; resumed on a different number of ranks, every rank
  takes rank 0's states (with a warning: that resume is not exact);
- ``wandb_id``: the W&B run id, so a resumed run continues the same W&B run.

On resume it also restores what Lightning saves but does not restore (``ModelCheckpoint``'s
``current_score``).

It also keeps the train loader's position (``ResumableDataLoader.consumed``) current, and isolates
validation from the training RNG stream so that validating (or not, after a resume) never changes
what training draws next.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from lightning_gen.contracts import class_path
from lightning_gen.data.resumable import ResumableDataLoader
from lightning_gen.reliability.compat import META_KEY
from lightning_gen.rng import collect_rng, restore_rng

__all__ = ["RunState", "collect_rng", "restore_rng"]


def wandb_run_id(trainer: L.Trainer) -> str | None:
    """The id of the trainer's W&B run, if it logs to W&B."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            return str(logger.version)
    return None


def _train_loaders(trainer: L.Trainer) -> list[ResumableDataLoader]:
    combined = trainer.fit_loop._combined_loader
    flat = combined.flattened if combined is not None else []
    return [dl for dl in flat if isinstance(dl, ResumableDataLoader)]


def _every_rank_rng(trainer: L.Trainer) -> list[dict[str, Any]] | None:
    """Every rank's ``collect_rng()`` in rank order (a collective call: all ranks save together,
    as Lightning's ``save_checkpoint`` does); ``None`` in a single process."""
    if trainer.world_size <= 1 or not torch.distributed.is_initialized():
        return None
    states: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(states, collect_rng())
    return states


def _rng_of_this_rank(trainer: L.Trainer, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The saved RNG states this rank continues from (see the module docstring)."""
    per_rank = meta.get("rng_per_rank")
    if per_rank is not None and len(per_rank) == trainer.world_size:
        return per_rank[trainer.global_rank]
    if trainer.world_size > 1 or per_rank is not None:
        saved = len(per_rank) if per_rank is not None else 1
        rank_zero_warn(
            f"the checkpoint holds the RNG states of {saved} process(es), this run has "
            f"{trainer.world_size}: every rank continues from rank 0's states, so the resumed "
            "run is not bit-identical to an uninterrupted one (resume on the same number of ranks)"
        )
    return meta.get("rng")


def restore_current_scores(trainer: L.Trainer, states: dict[str, Any]) -> None:
    """Put back ``ModelCheckpoint.current_score`` (saved, but not restored by Lightning), so a
    resumed run's checkpoints hold what an uninterrupted run's do."""
    for cb in trainer.checkpoint_callbacks:
        state = states.get(cb.state_key) if isinstance(cb, ModelCheckpoint) else None
        if state and state.get("current_score") is not None and cb.current_score is None:
            cb.current_score = state["current_score"]


class RunState(L.Callback):
    """Add RNG states, family class and W&B id to checkpoints; restore RNG and loader position on resume."""

    def __init__(self) -> None:
        self._rng_to_restore: dict[str, Any] | None = None
        self._callback_states: dict[str, Any] = {}
        self._rng_before_val: dict[str, Any] | None = None

    # -- saving --------------------------------------------------------------------------------
    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        meta: dict[str, Any] = {"model_class": class_path(pl_module), "rng": collect_rng()}
        per_rank = _every_rank_rng(trainer)
        if per_rank is not None:
            meta["rng_per_rank"] = per_rank
        run_id = wandb_run_id(trainer)
        if run_id is not None:
            meta["wandb_id"] = run_id
        checkpoint[META_KEY] = meta

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        for dl in _train_loaders(trainer):
            dl.consumed = batch_idx + 1
            dl.epoch_batches = trainer.num_training_batches

    # -- restoring -----------------------------------------------------------------------------
    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._rng_to_restore = _rng_of_this_rank(trainer, checkpoint.get(META_KEY, {}))
        self._callback_states = dict(checkpoint.get("callbacks") or {})

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._rng_to_restore is not None:
            restore_rng(self._rng_to_restore)
            self._rng_to_restore = None
        restore_current_scores(trainer, self._callback_states)
        self._callback_states = {}

    # -- validation does not touch the training RNG stream --------------------------------------
    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._rng_before_val = collect_rng()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._rng_before_val is not None:
            restore_rng(self._rng_before_val)
            self._rng_before_val = None
