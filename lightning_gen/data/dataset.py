"""In-memory image datasets and the batch collate shared by every source.

Every dataset yields ``(image, label)``: ``image`` float ``(C, H, W)`` in ``[-1, 1]``,
``label`` an int class index or ``-1`` when the source has no labels. ``collate``
turns an all-unlabelled batch's labels into ``None``.

In-memory datasets also read a whole batch at once (``__getitems__``, which ``DataLoader`` and
``Subset`` call when present): one indexing and one conversion per batch instead of one per image
plus a stack. They return a ``StackedBatch``, which the collate functions here take as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, default_collate

from lightning_gen.images import from_uint8

NO_LABEL = -1


class StackedBatch(Sequence):
    """A batch read at once by ``__getitems__``: ``tensors`` holds it already stacked, e.g.
    ``(images (B, C, H, W), labels (B,))``; ``collate`` / ``collate_pairs`` use them as they are.

    As a sequence it still yields the items one by one (``item(i)``, what ``__getitem__`` gives), so
    any other collate function gets the very same batch as without ``__getitems__``.
    """

    def __init__(self, tensors: tuple[torch.Tensor, ...], item: Callable[[int], Any]) -> None:
        self.tensors, self._item = tensors, item

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._item(i)


class ImageTensorDataset(Dataset):
    """Images held in memory as ``uint8`` ``(N, C, H, W)`` with optional int labels ``(N,)``."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images = images
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
        self.class_names = list(class_names) if class_names is not None else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        label = NO_LABEL if self.labels is None else int(self.labels[i])
        return from_uint8(self.images[i]), label

    def __getitems__(self, indices: list[int]) -> StackedBatch:
        """Items ``indices`` read at once: images ``(B, C, H, W)`` in ``[-1, 1]``, labels ``(B,)``."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        images = from_uint8(self.images[idx])  # (B, C, H, W)
        if self.labels is None:
            labels = torch.full((len(idx),), NO_LABEL, dtype=torch.long)
        else:
            labels = self.labels[idx]
        return StackedBatch((images, labels), lambda i: (images[i], int(labels[i])))

    @property
    def num_classes(self) -> int:
        """Number of classes (0 when unlabelled)."""
        if self.labels is None:
            return 0
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


def collate(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stack ``(image, label)`` pairs into ``(B, C, H, W)`` and ``(B,)`` labels, or ``None`` if unlabelled."""
    if isinstance(batch, StackedBatch):
        images, labels = batch.tensors
    else:
        images = torch.stack([b[0] for b in batch])
        labels = torch.tensor([b[1] for b in batch], dtype=torch.long)
    return images, (None if bool((labels == NO_LABEL).all()) else labels)


def collate_pairs(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """``[targets (B, C, H, W), sources (B, Cs, H, W)]`` (PyTorch's default collate of the pairs)."""
    if isinstance(batch, StackedBatch):
        return list(batch.tensors)
    return default_collate(list(batch))


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``uint8`` ``(N, C, H, W)`` to ``(N, C, size, size)`` with antialiased bilinear filtering."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    x = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return x.round().clamp(0, 255).to(torch.uint8)
