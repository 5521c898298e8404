"""Samplers that shard a split over DDP ranks themselves, so Lightning leaves them in place.

Both subclass ``DistributedSampler`` only so that Lightning does not replace them with its own
(``use_distributed_sampler``); their order is their own:

- ``EpochShuffleSampler`` (training): one permutation of the split drawn from ``seed + epoch`` (the
  same on every rank), dealt out rank by rank (``perm[rank::num_replicas]``). Every rank gets a
  disjoint shard; no index is repeated unless the ranks would otherwise get different numbers of
  batches (a DDP step needs every rank), in which case the permutation is padded with its first
  indices, as ``DistributedSampler`` does (documented in docs/data.md).
- ``EvalShardSampler`` (validation, test): contiguous, unshuffled, unpadded blocks, so every image
  is scored exactly once whatever the number of ranks (metrics summed over ranks equal the
  single-process values).

With ``num_replicas=1`` both are the plain order of one process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler

from lightning_gen.errors import ConfigError


def _check_rank(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"rank {rank} is not one of {num_replicas} ranks")


class EpochShuffleSampler(DistributedSampler):
    """This rank's shard of a permutation of ``range(n)`` drawn from ``seed + epoch``.

    ``shuffle=False`` deals out the identity instead. ``batch_size`` and ``drop_last`` are the
    loader's: they decide whether the shards need padding (uneven batch counts) or trimming.
    """

    def __init__(
        self,
        n: int,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        batch_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        _check_rank(num_replicas, rank)
        # not DistributedSampler.__init__: that one asks torch.distributed; the shard is ours
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.num_replicas, self.rank, self.batch_size = num_replicas, rank, max(1, batch_size)
        self.drop_last = drop_last
        self.epoch = 0
        self.total_size = self._total_size()
        self.num_samples = self.total_size // num_replicas

    def _total_size(self) -> int:
        """How many indices are dealt out: ``n``, or padded / trimmed to a multiple of the ranks
        when an uneven deal would give ranks different numbers of batches."""
        w, b = self.num_replicas, self.batch_size
        q, r = divmod(self.n, w)
        if r == 0:
            return self.n
        batches = (lambda k: k // b) if self.drop_last else (lambda k: math.ceil(k / b))
        if batches(q) == batches(q + 1):
            return self.n  # shards differ by one image but not in batch count
        return q * w if self.drop_last else (q + 1) * w

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at every epoch start."""
        self.epoch = epoch

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch, in order."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.total_size > self.n:  # pad with the first indices (only to equal batch counts)
            order = order * math.ceil(self.total_size / self.n)
        order = order[: self.total_size]
        return order[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(range(self.rank, self.total_size, self.num_replicas))


class EvalShardSampler(DistributedSampler):
    """Rank ``rank``'s contiguous block of ``range(n)``: no shuffling, no padded duplicates.

    Blocks differ in size by at most one image; every rank needs at least one (``n >= num_replicas``).
    """

    def __init__(self, n: int, num_replicas: int = 1, rank: int = 0, split: str = "eval") -> None:
        _check_rank(num_replicas, rank)
        if n < num_replicas:
            raise ConfigError(
                f"the {split} split has {n} images for {num_replicas} ranks: every rank needs one; "
                f"raise data.{split}_fraction or use fewer devices"
            )
        self.n, self.num_replicas, self.rank = n, num_replicas, rank
        self.shuffle, self.epoch, self.drop_last, self.seed = False, 0, False, 0
        self.start, self.stop = rank * n // num_replicas, (rank + 1) * n // num_replicas
        self.total_size, self.num_samples = n, self.stop - self.start

    def set_epoch(self, epoch: int) -> None:
        """The order does not depend on the epoch."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start
