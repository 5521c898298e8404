"""Reading a split as ``uint8`` batches, naming a dataset and hashing its content (cache keys)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import torch

from lightning_gen.errors import DataError
from lightning_gen.images import to_uint8


def dataset_name(datamodule: Any) -> str:
    """A readable name for file names: the source's class (``MNISTBundled``) or the DataModule's."""
    return type(getattr(datamodule, "source", datamodule)).__name__


def split_batches(
    datamodule: Any, split: str, limit: int | None = None, batch_size: int = 256
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """The first ``limit`` images (all if None) of ``split``, unshuffled, as ``(uint8 (B, C, H, W), labels)``.

    Reads through ``split_dataloader`` (no distributed sampler, so no padded duplicates).
    """
    seen = 0
    for x, y in datamodule.split_dataloader(split, batch_size=batch_size):
        if limit is not None and seen >= limit:
            break
        take = len(x) if limit is None else min(len(x), limit - seen)
        seen += take
        yield to_uint8(x[:take]), (None if y is None else y[:take])
    if seen == 0:
        raise DataError(f"the {split} split is empty: nothing to compute reference statistics from")


def content_hash(datamodule: Any, split: str, limit: int | None = None) -> tuple[str, int]:
    """sha256 (16 hex digits) of the ``uint8`` pixels and labels of a split, and its image count."""
    h, n = hashlib.sha256(), 0
    for x, y in split_batches(datamodule, split, limit):
        h.update(x.numpy().tobytes())
        if y is not None:
            h.update(y.numpy().tobytes())
        n += len(x)
    return h.hexdigest()[:16], n


def key_of(obj: Any) -> str:
    """sha256 (16 hex digits) of a JSON-able object, with sorted keys (a cache key)."""
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
