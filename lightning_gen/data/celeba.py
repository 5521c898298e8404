"""CelebA-64: the 202,599 aligned CelebA faces, centre-cropped and resized to 64x64 (unlabelled).

Reads ``root/celeba/img_align_celeba.zip`` (the official archive, MD5-checked) or an extracted
``root/celeba/img_align_celeba/`` folder of JPEGs. Each 178x218 face is cut to its centre
``crop`` x ``crop`` square (140 by default, the common CelebA-64 protocol) and resized to
``image_size`` with bicubic filtering. The result is cached as one ``.npy`` next to the data, so
only the first load decodes the JPEGs (a few ms per face per thread; the cache is 2.5 GB at
64x64). Google Drive often refuses scripted downloads; then fetch the zip by hand from
https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images).
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image, ImageOps

from lightning_gen.data.dataset import ImageTensorDataset
from lightning_gen.data.decode import convert_image
from lightning_gen.data.download import ensure_file
from lightning_gen.errors import ConfigError, DataError
from lightning_gen.fileio import atomic_write, load_array_cache

log = logging.getLogger(__name__)
PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def crop_resize(data: bytes, crop: int, size: int) -> np.ndarray:
    """Decode JPEG/PNG bytes, cut the centre ``crop`` square (the CelebA-64 protocol), then the one
    decoder's rules (``data/decode.py``: RGB, bicubic resize): ``uint8`` ``(3, size, size)``."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
        w, h = img.size
        c = min(crop, w, h)
        left, top = (w - c) // 2, (h - c) // 2
        return convert_image(img.crop((left, top, left + c, top + c)), size, 3, "stretch").numpy()


def _chunks(items: Iterator[tuple[str, bytes]], n: int) -> Iterator[list[tuple[str, bytes]]]:
    chunk: list[tuple[str, bytes]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class CelebA64:
    """Aligned CelebA faces as ``(N, 3, image_size, image_size)``, unlabelled.

    ``on_corrupt``: ``fail`` raises ``DataError`` naming the bad file; ``skip`` drops and counts it.
    ``max_images`` keeps the first N files (sorted by name), ``threads`` decode in parallel.
    """

    folder = "celeba"
    archive, md5 = "img_align_celeba.zip", "00d2c5bc6d35e252742224ab0c1e8fcb"
    urls: ClassVar[list[str]] = [
        # the official Google Drive file (current and original ids), then a course mirror of it
        "https://drive.usercontent.google.com/download?id=1zmsC4yvw-e089uHXj5EdP0BSZ0AlDQRR&export=download&confirm=t",
        "https://drive.usercontent.google.com/download?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM&export=download&confirm=t",
        "https://s3-us-west-1.amazonaws.com/udacity-dlnfd/datasets/celeba.zip",
    ]

    def __init__(
        self,
        root: str | Path,
        image_size: int = 64,
        crop: int = 140,
        download: bool = False,
        verify: bool = True,
        cache: bool = True,
        on_corrupt: str = "fail",
        max_images: int | None = None,
        threads: int = 4,
    ) -> None:
        if on_corrupt not in ("fail", "skip"):
            raise ConfigError(f"data.source.on_corrupt={on_corrupt!r}: choose 'fail' or 'skip'")
        self.root, self.image_size, self.crop = Path(root), image_size, crop
        self.download, self.verify, self.cache = download, verify, cache
        self.on_corrupt, self.max_images, self.threads = on_corrupt, max_images, max(1, threads)
        self.skipped: list[str] = []

    @property
    def dir(self) -> Path:
        """``root/celeba``."""
        return self.root / self.folder

    @property
    def cache_path(self) -> Path:
        """The decoded-array cache for this size/crop/limit."""
        n = "" if self.max_images is None else f"_first{self.max_images}"
        return self.dir / f"celeba{self.image_size}_crop{self.crop}{n}.npy"

    def _files(self) -> Iterator[tuple[str, bytes]]:
        """``(name, bytes)`` of each image, sorted, from the extracted folder or the zip."""
        folder = self.dir / "img_align_celeba"
        if folder.is_dir():
            paths = sorted(
                p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
            for p in paths[: self.max_images]:
                yield str(p), p.read_bytes()
            return
        path = ensure_file(
            self.dir / self.archive,
            self.urls,
            self.md5,
            self.download,
            f"CelebA64 (no {folder} either; manual download: {PAGE})",
            self.verify,
        )
        try:
            with zipfile.ZipFile(path) as zf:
                names = sorted(
                    n for n in zf.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png"))
                )
                for name in names[: self.max_images]:
                    yield f"{path}:{name}", zf.read(name)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"cannot read {path}: {exc}; delete it and download again") from exc

    def _decode(self, item: tuple[str, bytes]) -> np.ndarray | None:
        name, data = item
        try:
            return crop_resize(data, self.crop, self.image_size)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
            if self.on_corrupt == "fail":
                raise DataError(
                    f"cannot read image {name}: {exc}. Replace the file or set data.source.on_corrupt=skip"
                ) from exc
            self.skipped.append(name)
            return None

    def prepare(self) -> None:
        """Download (if ``download``) and checksum the archive unless images or a cache are present."""
        if (
            not (self.cache and self.cache_path.is_file())
            and not (self.dir / "img_align_celeba").is_dir()
        ):
            ensure_file(
                self.dir / self.archive,
                self.urls,
                self.md5,
                self.download,
                f"CelebA64 (no {self.dir / 'img_align_celeba'} either; manual download: {PAGE})",
                self.verify,
            )

    def load(self) -> ImageTensorDataset:
        """Decode (or read the cache of) every face as ``uint8`` ``(N, 3, S, S)``."""
        cached = load_array_cache(self.cache_path) if self.cache else None  # None: missing/corrupt
        if cached is not None:
            return ImageTensorDataset(torch.from_numpy(cached))
        self.skipped = []
        decoded: list[np.ndarray] = []
        with ThreadPoolExecutor(self.threads) as pool:
            for chunk in _chunks(self._files(), 4096):  # bounded memory: 4096 JPEGs at a time
                decoded += [a for a in pool.map(self._decode, chunk) if a is not None]
        if self.skipped:
            log.warning(
                "CelebA64: skipped %d unreadable image(s), e.g. %s",
                len(self.skipped),
                self.skipped[0],
            )
        if not decoded:
            raise DataError(
                f"CelebA64: no readable images in {self.dir} (looked for img_align_celeba/ and {self.archive})"
            )
        images = np.stack(decoded)  # (N, 3, S, S)
        if self.cache:
            with atomic_write(
                self.cache_path, "wb"
            ) as f:  # temp + fsync + rename (2.5 GB: no copy)
                np.save(f, images)
        return ImageTensorDataset(torch.from_numpy(images))
