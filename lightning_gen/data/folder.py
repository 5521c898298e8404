"""A folder of images as a source: class subfolders give labels, otherwise the data is unlabelled.

Every image is decoded by ``lightning_gen.data.decode.decode_image`` (the one decoder: EXIF
rotation, alpha onto white, 16-bit scaled to 8 bits) into ``channels`` (1: greyscale; 3: RGB) and
brought to ``image_size`` square by ``resize`` (``center_crop``, ``stretch`` or ``pad``).

So folders of mixed sizes and channel counts load into one ``(N, channels, S, S)`` dataset.
A corrupt or unreadable file either stops loading with a ``DataError`` naming it
(``on_corrupt: fail``) or is skipped and counted (``on_corrupt: skip``; see ``ImageFolder.skipped``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from lightning_gen.data.dataset import NO_LABEL, ImageTensorDataset
from lightning_gen.data.decode import PIL_MODE, RESIZE_MODES, decode_image
from lightning_gen.errors import ConfigError, DataError
from lightning_gen.images import from_uint8

log = logging.getLogger(__name__)

DEFAULT_EXTENSIONS = ("png", "jpg", "jpeg")


def list_images(
    root: Path, extensions: Sequence[str]
) -> tuple[list[Path], list[int] | None, list[str]]:
    """Image files under ``root`` (sorted) with labels from class subfolders, or ``None`` if unlabelled.

    Labelled when ``root`` holds no images itself but has subfolders with images: each immediate
    subfolder (sorted by name) is one class and its images are found recursively. Otherwise every
    image under ``root`` is used, unlabelled. Hidden files and folders (``.name``) are ignored.
    """
    exts = {"." + e.lower().lstrip(".") for e in extensions}

    def images_in(folder: Path, recursive: bool) -> list[Path]:
        found = folder.rglob("*") if recursive else folder.iterdir()
        return sorted(
            p
            for p in found
            if p.is_file()
            and p.suffix.lower() in exts
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )

    top = images_in(root, recursive=False)
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    per_class = {d.name: images_in(d, recursive=True) for d in subdirs}
    per_class = {k: v for k, v in per_class.items() if v}
    if top or not per_class:
        return images_in(root, recursive=True), None, []
    paths, labels = [], []
    for label, name in enumerate(per_class):
        paths += per_class[name]
        labels += [label] * len(per_class[name])
    return paths, labels, list(per_class)


class FolderDataset(Dataset):
    """Lazily decoded images: one file read per item; yields ``(image in [-1, 1] (C, S, S), label)``."""

    def __init__(
        self,
        paths: list[Path],
        labels: list[int] | None,
        class_names: list[str],
        image_size: int,
        channels: int,
        resize: str,
    ) -> None:
        self.paths, self.class_names = paths, class_names
        self.labels = None if labels is None else torch.tensor(labels, dtype=torch.long)
        self.image_size, self.channels, self.resize = image_size, channels, resize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = decode_image(self.paths[i], self.image_size, self.channels, self.resize)
        return from_uint8(img), NO_LABEL if self.labels is None else int(self.labels[i])

    @property
    def num_classes(self) -> int:
        """Number of class subfolders (0 when unlabelled)."""
        return 0 if self.labels is None else len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, S, S)`` of every image."""
        return (self.channels, self.image_size, self.image_size)


class ImageFolder:
    """Images (PNG/JPEG by default) under ``root``; class subfolders become labels.

    ``cache=True`` decodes every image once at ``load()`` and keeps ``uint8`` tensors in memory
    (fast epochs, ``N*C*S*S`` bytes). ``cache=False`` checks every file at ``load()``
    (``verify=True``, a full decode) and then decodes per item (for folders too large for memory).
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int = 64,
        channels: int = 3,
        resize: str = "center_crop",
        extensions: Sequence[str] = DEFAULT_EXTENSIONS,
        on_corrupt: str = "fail",
        cache: bool = True,
        verify: bool = True,
    ) -> None:
        if channels not in PIL_MODE:
            raise ConfigError(f"data.source.channels={channels}: must be 1 (greyscale) or 3 (RGB)")
        if resize not in RESIZE_MODES:
            raise ConfigError(
                f"data.source.resize={resize!r}: choose one of {sorted(RESIZE_MODES)}"
            )
        if on_corrupt not in ("fail", "skip"):
            raise ConfigError(f"data.source.on_corrupt={on_corrupt!r}: choose 'fail' or 'skip'")
        if image_size < 1:
            raise ConfigError(
                f"data.source.image_size must be a positive integer, got {image_size}"
            )
        self.root, self.image_size, self.channels, self.resize = (
            Path(root),
            image_size,
            channels,
            resize,
        )
        self.extensions, self.on_corrupt = list(extensions), on_corrupt
        self.cache, self.verify = cache, verify
        self.skipped: list[Path] = []

    def _read(self, path: Path) -> torch.Tensor | None:
        """Decode one file; ``None`` (and counted) when corrupt under ``on_corrupt=skip``."""
        try:
            return decode_image(path, self.image_size, self.channels, self.resize)
        except DataError as exc:
            if self.on_corrupt == "fail":
                raise DataError(
                    f"{exc}, or set data.source.on_corrupt=skip to skip unreadable images"
                ) from exc
            self.skipped.append(path)
            return None

    def load(self) -> ImageTensorDataset | FolderDataset:
        """List, check and (with ``cache``) decode the images; raises ``DataError`` if there are none."""
        if not self.root.is_dir():
            raise DataError(
                f"image folder {self.root} does not exist (resolved: {self.root.resolve()}); "
                "set data.source.root to a folder of images or class subfolders"
            )
        paths, labels, class_names = list_images(self.root, self.extensions)
        if not paths:
            raise DataError(
                f"no images with extensions {self.extensions} in {self.root} or its subfolders; "
                "add images or set data.source.extensions"
            )
        self.skipped = []
        keep = list(range(len(paths)))
        images: list[torch.Tensor] = []
        if self.cache or self.verify:
            decoded = [self._read(p) for p in paths]
            keep = [i for i, img in enumerate(decoded) if img is not None]
            images = [decoded[i] for i in keep] if self.cache else []
        if self.skipped:
            shown = ", ".join(str(p) for p in self.skipped[:5])
            log.warning(
                "ImageFolder %s: skipped %d unreadable image(s): %s%s",
                self.root,
                len(self.skipped),
                shown,
                " ..." if len(self.skipped) > 5 else "",
            )
        if not keep:
            raise DataError(
                f"all {len(paths)} images in {self.root} are unreadable (e.g. {paths[0]})"
            )
        paths = [paths[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
        if not self.cache:
            return FolderDataset(
                paths, labels, class_names, self.image_size, self.channels, self.resize
            )
        stacked = torch.stack(images)  # (N, C, S, S) uint8
        return ImageTensorDataset(
            stacked, None if labels is None else torch.tensor(labels), class_names or None
        )
