"""A train DataLoader that can stop mid-epoch and continue at the very next batch.

Its order (and its workers' seeds) depend only on ``(seed, epoch)``: iterating never draws from the
global RNG, so where Lightning creates the iterator does not shift the training RNG stream. And ``state_dict()`` /
``load_state_dict()`` record the epoch and how many batches were already trained on, which Lightning
stores in the checkpoint's loop state and restores before iterating (``_Stateful`` protocol).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from lightning_gen.data.samplers import EpochShuffleSampler

__all__ = ["EpochShuffleSampler", "ResumableDataLoader"]


class ResumableDataLoader(DataLoader):
    """``DataLoader`` with an ``EpochShuffleSampler`` that resumes mid-epoch.

    Under DDP (``num_replicas > 1``) each rank iterates its own disjoint shard of the epoch's
    permutation; the position saved is in batches, which every rank trains in step.

    ``consumed`` (batches of this epoch trained on, counting the current one) is set by ``RunState``
    at every train batch start, so the saved position ignores batches that Lightning prefetched but
    did not train on yet.
    """

    def __init__(
        self,
        dataset: Any,
        *,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("sampler", None)  # the order is this loader's own (docs/data.md)
        kwargs.pop("shuffle", None)
        sampler = EpochShuffleSampler(
            len(dataset),
            seed,
            shuffle,
            num_replicas=num_replicas,
            rank=rank,
            batch_size=kwargs.get("batch_size") or 1,
            drop_last=bool(kwargs.get("drop_last", False)),
        )
        super().__init__(dataset, sampler=sampler, **kwargs)
        self.resume_seed = seed
        self.consumed = 0  # batches of this epoch already trained on (set by RunState)
        self.epoch_batches: int | float = float(
            "inf"
        )  # batches per epoch after limit_train_batches
        self._skip = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # workers' base seed from (seed, epoch, rank) too: iterating never draws from the global RNG
        self.generator = torch.Generator().manual_seed(
            self.resume_seed * 1_000_003 + int(self.sampler.epoch) + self.sampler.rank * 2**32
        )
        skip, self._skip = self._skip, 0
        self.consumed = skip
        if skip == 0:
            return super().__iter__()
        it = super().__iter__()
        if self.num_workers == 0:
            # cheap fast-forward: advance the index iterator without loading the skipped images
            for _ in range(skip):
                next(it._sampler_iter)  # type: ignore[attr-defined]
        else:
            for _ in range(skip):
                next(it)
        return it

    def state_dict(self) -> dict[str, int]:
        """Epoch and number of batches already trained on in it (a finished epoch: the next one at 0)."""
        epoch = int(getattr(self.sampler, "epoch", 0))
        if self.consumed >= self.epoch_batches:
            return {"epoch": epoch + 1, "consumed": 0}
        return {"epoch": epoch, "consumed": int(self.consumed)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue at batch ``consumed`` of ``epoch`` at the next ``iter()``."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(int(state["epoch"]))
        self._skip = int(state["consumed"])
