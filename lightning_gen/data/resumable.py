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
from torch.utils.data import DataLoader, Sampler


class EpochShuffleSampler(Sampler[int]):
    """A permutation of ``range(n)`` drawn from ``seed + epoch`` (or the identity with ``shuffle=False``)."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at every epoch start."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class ResumableDataLoader(DataLoader):
    """``DataLoader`` with an ``EpochShuffleSampler`` that resumes mid-epoch.

    ``consumed`` (batches of this epoch trained on, counting the current one) is set by ``RunState``
    at every train batch start, so the saved position ignores batches that Lightning prefetched but
    did not train on yet.
    """

    def __init__(self, dataset: Any, *, seed: int = 0, shuffle: bool = True, **kwargs: Any) -> None:
        kwargs.pop("sampler", None)
        kwargs.pop("shuffle", None)
        super().__init__(
            dataset, sampler=EpochShuffleSampler(len(dataset), seed, shuffle), **kwargs
        )
        self.resume_seed = seed
        self.consumed = 0  # batches of this epoch already trained on (set by RunState)
        self.epoch_batches: int | float = float(
            "inf"
        )  # batches per epoch after limit_train_batches
        self._skip = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # workers' base seed from (seed, epoch) too: iterating never draws from the global RNG
        self.generator = torch.Generator().manual_seed(
            self.resume_seed * 1_000_003 + int(self.sampler.epoch)
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
