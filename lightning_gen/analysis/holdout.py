"""A source wrapper that holds classes out of the data (to train anomaly detectors on "normal" data).

``ExcludeClasses(source, exclude=[9])`` is a drop-in ``data.source`` for ``ImageDataModule``: its
``load()`` returns the wrapped source's dataset without the excluded classes (class names and
``num_classes`` are kept, so a conditional model still sees the full label set), and
``load_excluded()`` returns only the held-out images: the anomalies for ``lgen analyze``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from lightning_gen.errors import ConfigError, DataError


class ClassSubset(Dataset):
    """The items of a labelled dataset whose label is (or is not) in a set of classes.

    Exposes ``labels`` ``(N,)``, ``image_shape``, ``num_classes`` and ``class_names`` like the
    wrapped dataset, so ``ImageDataModule.label_counts`` keeps working.
    """

    def __init__(self, dataset: Any, classes: Sequence[int], keep: bool) -> None:
        labels = getattr(dataset, "labels", None)
        if labels is None:
            raise DataError(
                f"{type(dataset).__name__} has no labels; classes can only be held out of labelled data"
            )
        labels = torch.as_tensor(labels, dtype=torch.long)
        hit = torch.isin(labels, torch.as_tensor(list(classes), dtype=torch.long))
        self.indices = torch.nonzero(hit if keep else ~hit).flatten()
        self.dataset = dataset
        self.labels = labels[self.indices]
        self.image_shape = tuple(dataset.image_shape)
        self.num_classes = int(getattr(dataset, "num_classes", 0))
        self.class_names = getattr(dataset, "class_names", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.dataset[int(self.indices[i])]


class ExcludeClasses:
    """Wrap a source (anything with ``load()``) and drop the classes in ``exclude`` from it."""

    def __init__(self, source: Any, exclude: Sequence[int] = (9,)) -> None:
        if not hasattr(source, "load"):
            raise ConfigError(
                f"ExcludeClasses.source must have a load() method; got {type(source).__name__}"
            )
        if len(exclude) == 0:
            raise ConfigError(
                "ExcludeClasses.exclude is empty: name at least one class to hold out, e.g. [9]"
            )
        self.source = source
        self.exclude = [int(k) for k in exclude]
        self._full: Any = None

    def prepare(self) -> None:
        """Forward ``prepare`` (downloads, checks) to the wrapped source when it has one."""
        if hasattr(self.source, "prepare"):
            self.source.prepare()

    def _load_full(self) -> Any:
        if self._full is None:
            self._full = self.source.load()
            k = int(getattr(self._full, "num_classes", 0))
            bad = [c for c in self.exclude if not 0 <= c < k]
            if bad:
                raise ConfigError(
                    f"ExcludeClasses.exclude={self.exclude}: classes {bad} are not in 0..{k - 1}"
                )
        return self._full

    def load(self) -> ClassSubset:
        """The wrapped dataset without the excluded classes (the "normal" data)."""
        return ClassSubset(self._load_full(), self.exclude, keep=False)

    def load_excluded(self) -> ClassSubset:
        """Only the images of the excluded classes (the anomalies, never seen in training)."""
        return ClassSubset(self._load_full(), self.exclude, keep=True)
