"""In-memory image datasets and the batch collate shared by every source.

Every dataset yields ``(image, label)``: ``image`` float ``(C, H, W)`` in ``[-1, 1]``,
``label`` an int class index or ``-1`` when the source has no labels. ``collate``
turns an all-unlabelled batch's labels into ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from lightning_gen.images import from_uint8

NO_LABEL = -1


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


def collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stack ``(image, label)`` pairs into ``(B, C, H, W)`` and ``(B,)`` labels, or ``None`` if unlabelled."""
    images = torch.stack([b[0] for b in batch])
    labels = torch.tensor([b[1] for b in batch], dtype=torch.long)
    return images, (None if bool((labels == NO_LABEL).all()) else labels)


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``uint8`` ``(N, C, H, W)`` to ``(N, C, size, size)`` with antialiased bilinear filtering."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    x = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return x.round().clamp(0, 255).to(torch.uint8)
