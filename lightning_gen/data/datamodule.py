"""One LightningDataModule for every image source.

A *source* is any object with ``load() -> Dataset`` whose items are ``(image, label)``
(image float ``(C, H, W)`` in ``[-1, 1]``, label int or ``-1``) and which exposes
``image_shape`` and ``num_classes`` on the returned dataset. Splits are a seeded
permutation, so the same seed gives the same train/val/test images everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from lightning_gen.data.dataset import collate
from lightning_gen.data.resumable import ResumableDataLoader
from lightning_gen.data.samplers import EvalShardSampler
from lightning_gen.errors import ConfigError, DataError


class ImageDataModule(L.LightningDataModule):
    """Seeded train/val/test split of one source; batches are ``(images in [-1, 1], labels or None)``.

    ``limit`` keeps N images drawn by ``seed`` from the whole source (smoke runs, quick
    experiments); without it the split uses every image. ``num_workers`` and ``pin_memory`` go to
    every DataLoader this module makes.
    """

    # batches of ``(images, labels or None)``; subclasses with other batch layouts override it
    collate_fn: Callable | None = staticmethod(collate)

    def __init__(
        self,
        source: Any,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
        drop_last: bool = False,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        if not hasattr(source, "load"):
            raise ConfigError(f"data.source must have a load() method; got {type(source).__name__}")
        if not (
            0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1
        ):
            raise ConfigError(
                f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) "
                "and sum to less than 1"
            )
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be a positive integer, got {batch_size}")
        self.source = source
        self.batch_size, self.seed = batch_size, seed
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.num_workers, self.pin_memory, self.drop_last = num_workers, pin_memory, drop_last
        self.limit = limit
        self.full: Dataset | None = None
        self.splits: dict[str, Subset] = {}

    # -- loading and splitting -------------------------------------------------------------
    def prepare_data(self) -> None:
        """Download or verify files once per node (sources that have ``prepare``)."""
        if hasattr(self.source, "prepare"):
            self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        """Load the source once and split it by ``seed``; idempotent."""
        if self.full is not None:
            return
        full = self.source.load()
        n = min(len(full), self.limit) if self.limit else len(full)
        if n == 0:
            raise DataError(
                f"{type(self.source).__name__} returned no images; check its path/arguments"
            )
        n_val, n_test = int(round(n * self.val_fraction)), int(round(n * self.test_fraction))
        n_train = n - n_val - n_test
        if n_train < 1:
            raise DataError(f"only {n} images: nothing left for training after the val/test split")
        if self.batch_size > n_train:
            raise ConfigError(
                f"data.batch_size={self.batch_size} is larger than the training split ({n_train} images); "
                f"set data.batch_size<={n_train}"
            )
        # a seeded permutation of the whole source; `limit` keeps its first n entries, so a limited
        # run draws from every class even when the source is sorted by class (image folders)
        perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(self.seed))[
            :n
        ].tolist()
        self.full = full
        self.splits = {
            "train": Subset(full, perm[:n_train]),
            "val": Subset(full, perm[n_train : n_train + n_val]),
            "test": Subset(full, perm[n_train + n_val :]),
        }

    # -- what a batch holds ----------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the images (after ``setup``)."""
        self.setup()
        return tuple(self.full.image_shape)  # type: ignore[union-attr]

    @property
    def num_classes(self) -> int:
        """Number of label classes; 0 for unlabelled data."""
        self.setup()
        return int(getattr(self.full, "num_classes", 0))

    def label_counts(self, split: str = "train") -> torch.Tensor | None:
        """Per-class counts of a split ``(num_classes,)``, or ``None`` if unlabelled."""
        self.setup()
        labels = getattr(self.full, "labels", None)
        if labels is None or self.num_classes == 0:
            return None
        idx = torch.tensor(self.splits[split].indices, dtype=torch.long)
        return torch.bincount(labels[idx], minlength=self.num_classes)

    # -- loaders -----------------------------------------------------------------------------
    def _shard(self) -> tuple[int, int]:
        """``(number of ranks, this rank)`` of the attached Trainer; ``(1, 0)`` in one process."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or trainer.world_size <= 1:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        ds = self.splits[split]
        if len(ds) == 0:
            raise DataError(f"the {split} split is empty; raise data.{split}_fraction")
        num_replicas, rank = self._shard()
        common = dict(
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            collate_fn=self.collate_fn,
        )
        if shuffle:
            # each rank its own shard of a (seed, epoch) permutation; resumes mid-epoch exactly
            return ResumableDataLoader(
                ds,
                seed=self.seed,
                num_replicas=num_replicas,
                rank=rank,
                drop_last=self.drop_last,
                **common,
            )
        # val/test: contiguous unpadded blocks, so metrics summed over ranks are exact
        return DataLoader(
            ds, sampler=EvalShardSampler(len(ds), num_replicas, rank, split), **common
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def split_dataloader(self, split: str, batch_size: int | None = None) -> DataLoader:
        """An unshuffled loader over one split (for reference statistics and analysis)."""
        self.setup()
        return DataLoader(
            self.splits[split],
            batch_size=batch_size or self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            collate_fn=self.collate_fn,
        )
