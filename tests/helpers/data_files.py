"""Writers of small dataset files in the real on-disk formats (IDX.gz, CIFAR tarball, PNG/JPEG, zip)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a ``uint8`` array as a gzipped IDX file (magic 0x0000080N, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


def write_mnist_like(
    folder: Path, n_train: int = 30, n_test: int = 10, seed: int = 0
) -> dict[str, np.ndarray]:
    """MNIST-layout IDX files with random digits; image i of split s has label ``i % 10``."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
        arrays[f"{prefix}_x"], arrays[f"{prefix}_y"] = x, y
    return arrays


def write_cifar_tarball(path: Path, per_batch: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A ``cifar-10-python.tar.gz`` with 5 train batches + test batch of ``per_batch`` images each."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, per_batch)]
            arrays[name], arrays[name + "_labels"] = data, np.array(labels)
            blob = pickle.dumps(
                {b"batch_label": name.encode(), b"data": data, b"labels": labels}, protocol=2
            )
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return arrays


def image_bytes(array: np.ndarray, fmt: str) -> bytes:
    """Encode an ``(H, W)`` or ``(H, W, C)`` ``uint8`` array as PNG/JPEG bytes."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, array: np.ndarray) -> Path:
    """Save an array as an image file whose format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}[path.suffix.lower()]
    path.write_bytes(image_bytes(array, fmt))
    return path


def write_celeba_zip(path: Path, n: int = 6, seed: int = 0) -> Path:
    """An ``img_align_celeba.zip`` of ``n`` 178x218 JPEG faces (random pixels, green centre square)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            img = rng.integers(0, 60, (218, 178, 3), dtype=np.uint8)
            img[39:179, 19:159] = (0, 200, 0)  # the centre 140x140 crop is pure green
            zf.writestr(f"img_align_celeba/{i + 1:06d}.jpg", image_bytes(img, "JPEG"))
    return path
