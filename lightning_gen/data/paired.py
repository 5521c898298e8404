"""Paired and unpaired image-to-image data (Pix2Pix, CycleGAN).

Batch layout: ``(target, source)`` = ``(B images, A images)``, both float ``(N, C, H, W)`` in
``[-1, 1]``. The source sits where class labels sit for other families, so the shared callbacks
call ``model.sample(n, condition=source)`` and get translations. ``num_classes`` is 0.

Sources (each has ``load()``, used by ``PairedDataModule``):

- ``PairedFolders``: ``root/A/x.png`` pairs with ``root/B/x.png`` (matched by file name stem).
- ``UnpairedFolders``: ``root/A/`` and ``root/B/`` independent domains (CycleGAN).
- ``PairedTask``: an offline demo built from a bundled source: ``edges`` -> image, ``low_res``
  -> image, ``grayscale`` -> colour image.
- ``DigitDomains``: scikit-learn's blocky 8x8 digits (A) and MNIST handwriting (B), unpaired.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from lightning_gen.data.datamodule import ImageDataModule
from lightning_gen.data.dataset import StackedBatch, collate_pairs, resize_uint8
from lightning_gen.data.decode import decode_image
from lightning_gen.errors import ConfigError, DataError
from lightning_gen.images import from_uint8

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
MODES = {1: "L", 3: "RGB"}


class PairedTensorDataset(Dataset):
    """Aligned ``uint8`` sources ``(N, Cs, H, W)`` and targets ``(N, C, H, W)``; items ``(target, source)``."""

    labels = None
    num_classes = 0

    def __init__(self, sources: torch.Tensor, targets: torch.Tensor) -> None:
        if len(sources) != len(targets) or sources.shape[2:] != targets.shape[2:]:
            raise DataError(
                f"sources {tuple(sources.shape)} and targets {tuple(targets.shape)} do not pair up"
            )
        self.sources, self.targets = sources, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return from_uint8(self.targets[i]), from_uint8(self.sources[i])

    def __getitems__(self, indices: list[int]) -> StackedBatch:
        """Items ``indices`` read at once: targets ``(B, C, H, W)``, sources ``(B, Cs, H, W)``."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        t_idx, s_idx = idx % len(self.targets), idx % len(self.sources)  # unpaired: wrap around
        targets, sources = from_uint8(self.targets[t_idx]), from_uint8(self.sources[s_idx])
        return StackedBatch((targets, sources), lambda i: (targets[i], sources[i]))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the targets (what the model generates)."""
        return tuple(self.targets.shape[1:])  # type: ignore[return-value]

    @property
    def source_shape(self) -> tuple[int, int, int]:
        """``(Cs, H, W)`` of the sources."""
        return tuple(self.sources.shape[1:])  # type: ignore[return-value]


class UnpairedTensorDataset(PairedTensorDataset):
    """Two independent domains ``a`` ``(Na, C, H, W)``, ``b`` ``(Nb, C, H, W)``; item ``i`` is
    ``(b[i % Nb], a[i % Na])`` and the length is ``max(Na, Nb)`` (the smaller domain repeats).
    Splits are over this index, so with unequal sizes a few images of the smaller domain can
    appear in more than one split."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        if a.shape[1:] != b.shape[1:]:
            raise DataError(
                f"domain A images {tuple(a.shape[1:])} and B images {tuple(b.shape[1:])} differ in shape"
            )
        self.sources, self.targets = a, b

    def __len__(self) -> int:
        return max(len(self.sources), len(self.targets))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return from_uint8(self.targets[i % len(self.targets)]), from_uint8(
            self.sources[i % len(self.sources)]
        )


# -- folders -----------------------------------------------------------------------------------
def list_images(folder: Path) -> dict[str, Path]:
    """``{stem: path}`` of the image files directly in ``folder``; DataError if missing or empty."""
    if not folder.is_dir():
        raise DataError(
            f"no folder {folder}: paired/unpaired data needs {folder.parent}/A and {folder.parent}/B"
        )
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS}
    if not files:
        raise DataError(
            f"domain folder {folder} is empty: put images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in it"
        )
    return files


def read_images(
    paths: list[Path], size: int, channels: int, resize: str = "center_crop"
) -> torch.Tensor:
    """Decode (``lightning_gen.data.decode``), convert to ``channels`` (1 or 3) and bring to
    ``size`` x ``size`` by ``resize``: ``uint8 (N, C, S, S)``."""
    if channels not in MODES:
        raise ConfigError(f"channels={channels} must be 1 or 3")
    return torch.stack([decode_image(p, size, channels, resize) for p in paths])


class PairedFolders:
    """``root/A/<name>.*`` (source) paired with ``root/B/<name>.*`` (target) by file name stem."""

    def __init__(
        self, root: str, image_size: int = 64, channels: int = 3, source_channels: int | None = None
    ) -> None:
        self.root, self.image_size = Path(root), image_size
        self.channels, self.source_channels = channels, source_channels or channels

    def load(self) -> PairedTensorDataset:
        a, b = list_images(self.root / "A"), list_images(self.root / "B")
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        if only_a or only_b:
            raise DataError(
                f"A/ and B/ in {self.root} do not pair up by file name: only in A: {only_a[:5]}"
                f"{' ...' if len(only_a) > 5 else ''}, only in B: {only_b[:5]}{' ...' if len(only_b) > 5 else ''}; "
                "give each source in A/ a target of the same name in B/ (or use UnpairedFolders for CycleGAN)"
            )
        names = sorted(a)
        return PairedTensorDataset(
            read_images([a[n] for n in names], self.image_size, self.source_channels),
            read_images([b[n] for n in names], self.image_size, self.channels),
        )


class UnpairedFolders:
    """Two independent domains ``root/A/`` and ``root/B/`` (any file names, any counts)."""

    def __init__(self, root: str, image_size: int = 64, channels: int = 3) -> None:
        self.root, self.image_size, self.channels = Path(root), image_size, channels

    def load(self) -> UnpairedTensorDataset:
        a, b = list_images(self.root / "A"), list_images(self.root / "B")
        return UnpairedTensorDataset(
            read_images(list(a.values()), self.image_size, self.channels),
            read_images(list(b.values()), self.image_size, self.channels),
        )


# -- offline demo tasks ------------------------------------------------------------------------
def edges(images: torch.Tensor) -> torch.Tensor:
    """Sobel edge magnitude of ``uint8 (N, C, H, W)`` (on the channel mean), per-image max-normalised."""
    gray = images.float().mean(1, keepdim=True) / 255.0  # (N, 1, H, W)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    k = torch.stack([kx, kx.T])[:, None]  # (2, 1, 3, 3)
    g = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), k).pow(2).sum(1, keepdim=True).sqrt()
    g = g / g.flatten(1).amax(1).clamp_min(1e-8)[:, None, None, None]
    return (g * 255).round().to(torch.uint8).expand(-1, images.shape[1], -1, -1).contiguous()


def low_res(images: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Downsample by ``factor`` and upsample back (blurry input of the same size), ``uint8``."""
    size = images.shape[-1]
    return resize_uint8(resize_uint8(images, max(1, size // factor)), size)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """Luma ``0.299 R + 0.587 G + 0.114 B`` repeated on the channels (so source and target agree)."""
    if images.shape[1] == 1:
        return images.clone()
    w = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    y = (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return y.expand(-1, 3, -1, -1).contiguous()


SOURCE_TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "edges": edges,
    "low_res": low_res,
    "grayscale": grayscale,
}


class PairedTask:
    """A paired demo built from any bundled source (``images``, e.g. ``MNISTBundled``): the
    source is ``SOURCE_TRANSFORMS[task](image)``, the target the image itself."""

    def __init__(self, images: Any, task: str = "edges") -> None:
        if task not in SOURCE_TRANSFORMS:
            raise ConfigError(
                f"data.source.task={task!r} is not a demo task; choose one of {sorted(SOURCE_TRANSFORMS)}"
            )
        self.images, self.task = images, task

    def load(self) -> PairedTensorDataset:
        targets = self.images.load().images  # uint8 (N, C, H, W)
        return PairedTensorDataset(SOURCE_TRANSFORMS[self.task](targets), targets)


class DigitDomains:
    """Unpaired digit domains: A = scikit-learn's 1,797 8x8 digits upsampled (blocky, blurred),
    B = the 5,000 bundled MNIST digits, both ``image_size`` px grayscale."""

    def __init__(self, image_size: int = 28) -> None:
        self.image_size = image_size

    def load(self) -> UnpairedTensorDataset:
        from lightning_gen.data.bundled import MNISTBundled, SklearnDigits

        a = SklearnDigits(self.image_size).load().images
        b = MNISTBundled(self.image_size).load().images
        return UnpairedTensorDataset(a, b)


class PairedDataModule(ImageDataModule):
    """``ImageDataModule`` for ``(target, source)`` image pairs (same seeded splits and options)."""

    collate_fn = staticmethod(collate_pairs)  # batches ``[targets, sources]``

    @property
    def source_shape(self) -> tuple[int, int, int]:
        """``(Cs, H, W)`` of the source images (after ``setup``)."""
        self.setup()
        return tuple(self.full.source_shape)  # type: ignore[union-attr]
