"""Public datasets from their official files: MNIST, Fashion-MNIST, CIFAR-10, CelebA-64.

Files live under ``root`` (``paths.data_dir`` in the configs), one folder per dataset. They are
checked against the official MD5s; ``download=True`` fetches missing files (urllib, mirrors).
Without it a missing file raises ``DataError`` saying where it looked and where to get it.

=============  =========================================  ===============================
source         files under ``root``                       images
=============  =========================================  ===============================
MNIST          ``mnist/{train,t10k}-*-idx?-ubyte.gz``     60k train + 10k test, 1x28x28
FashionMNIST   ``fashion_mnist/{train,t10k}-*.gz``        60k train + 10k test, 1x28x28
CIFAR10        ``cifar10/cifar-10-python.tar.gz``         50k train + 10k test, 3x32x32
CelebA64       ``celeba/img_align_celeba.zip`` (or dir)   202,599 faces, 3x64x64, unlabelled
=============  =========================================  ===============================
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from lightning_gen.data.dataset import ImageTensorDataset, resize_uint8
from lightning_gen.data.download import ensure_file
from lightning_gen.errors import ConfigError, DataError

SPLITS = ("train", "test", "all")


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (``.gz`` or raw) of unsigned bytes into an array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(
            f"cannot read IDX file {path}: {exc}; delete it and download again"
        ) from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    body = data[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)):
        raise DataError(
            f"{path}: header says shape {shape} but holds {len(body)} bytes; file truncated?"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


class _PublicSource:
    """Shared arguments: ``root`` folder, ``split`` (train|test|all), ``image_size``, ``download``."""

    folder: ClassVar[str]

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        image_size: int | None = None,
        download: bool = False,
        verify: bool = True,
    ) -> None:
        if split not in SPLITS:
            raise ConfigError(f"data.source.split={split!r}: choose one of {list(SPLITS)}")
        self.root, self.split, self.image_size = Path(root), split, image_size
        self.download, self.verify = download, verify

    @property
    def dir(self) -> Path:
        """The dataset's own folder under ``root``."""
        return self.root / self.folder

    def _splits(self) -> tuple[str, ...]:
        return ("train", "test") if self.split == "all" else (self.split,)

    def _finish(
        self, images: np.ndarray, labels: np.ndarray, names: list[str]
    ) -> ImageTensorDataset:
        x = torch.from_numpy(np.ascontiguousarray(images))  # (N, C, H, W) uint8
        if self.image_size is not None:
            x = resize_uint8(x, self.image_size)
        return ImageTensorDataset(x, torch.from_numpy(labels.astype(np.int64)), names)


class MNIST(_PublicSource):
    """The 70,000 MNIST digits from the official IDX files (labels 0-9)."""

    folder = "mnist"
    mirrors: ClassVar[list[str]] = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    files: ClassVar[dict[str, tuple[tuple[str, str], tuple[str, str]]]] = {
        # split: ((images file, md5), (labels file, md5))
        "train": (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ),
        "test": (
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    }
    class_names: ClassVar[list[str]] = [str(i) for i in range(10)]

    def _file(self, name: str, md5: str) -> Path:
        raw = self.dir / name.removesuffix(".gz")
        if raw.is_file() and not (self.dir / name).is_file():  # already unpacked by the user
            return raw
        urls = [m + name for m in self.mirrors]
        return ensure_file(
            self.dir / name, urls, md5, self.download, type(self).__name__, self.verify
        )

    def prepare(self) -> None:
        """Download (if ``download``) and checksum the files of the chosen split(s)."""
        for split in self._splits():
            for name, md5 in self.files[split]:
                self._file(name, md5)

    def load(self) -> ImageTensorDataset:
        """Read the IDX files into ``uint8`` ``(N, 1, 28, 28)`` (resized if ``image_size``)."""
        xs, ys = [], []
        for split in self._splits():
            (img_name, img_md5), (lab_name, lab_md5) = self.files[split]
            x, y = read_idx(self._file(img_name, img_md5)), read_idx(self._file(lab_name, lab_md5))
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                raise DataError(
                    f"{self.dir}: {split} images {x.shape} and labels {y.shape} do not match"
                )
            xs.append(x[:, None])
            ys.append(y)
        return self._finish(np.concatenate(xs), np.concatenate(ys), self.class_names)


class FashionMNIST(MNIST):
    """Zalando's 70,000 Fashion-MNIST clothing images (IDX files, same layout as MNIST)."""

    folder = "fashion_mnist"
    mirrors: ClassVar[list[str]] = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    files: ClassVar[dict[str, tuple[tuple[str, str], tuple[str, str]]]] = {
        "train": (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ),
        "test": (
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    }
    class_names: ClassVar[list[str]] = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays (the CIFAR batches); refuses anything else."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        (mod, name)
        for mod in (
            "numpy.core.multiarray",
            "numpy._core.multiarray",
            "numpy",
            "numpy.core.numeric",
        )
        for name in ("_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer")
    } | {("_codecs", "encode")}  # bytes written by Python 3 pickles at protocol 2

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def _unpickle(data: bytes, where: str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"cannot read CIFAR batch {where}: {exc}") from exc
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


class CIFAR10(_PublicSource):
    """The 60,000 32x32 CIFAR-10 images from the official python tarball (10 classes)."""

    folder = "cifar10"
    archive, md5 = "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"
    urls: ClassVar[list[str]] = ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    batches: ClassVar[dict[str, list[str]]] = {
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
    }
    class_names: ClassVar[list[str]] = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]

    def _members(self) -> dict[str, bytes]:
        """Raw bytes of every batch file, from the extracted folder or straight from the tarball."""
        wanted = [b for s in self._splits() for b in self.batches[s]]
        extracted = self.dir / "cifar-10-batches-py"
        if extracted.is_dir() and all((extracted / b).is_file() for b in wanted):
            return {b: (extracted / b).read_bytes() for b in wanted}
        path = ensure_file(
            self.dir / self.archive, self.urls, self.md5, self.download, "CIFAR10", self.verify
        )
        out: dict[str, bytes] = {}
        try:
            with tarfile.open(path, "r|gz") as tar:  # stream: one pass, no gzip seeks back
                for member in tar:
                    name = Path(member.name).name
                    if name in wanted and member.isfile():
                        out[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"cannot read {path}: {exc}; delete it and download again") from exc
        missing = [b for b in wanted if b not in out]
        if missing:
            raise DataError(f"{path} lacks {missing}; is it the official CIFAR-10 python version?")
        return {b: out[b] for b in wanted}

    def prepare(self) -> None:
        """Download (if ``download``) and checksum the tarball."""
        self._members()

    def load(self) -> ImageTensorDataset:
        """Read the batches into ``uint8`` ``(N, 3, 32, 32)`` (resized if ``image_size``)."""
        xs, ys = [], []
        for name, raw in self._members().items():
            batch = _unpickle(raw, name)
            data = np.asarray(batch["data"], dtype=np.uint8)  # (10000, 3072): R, G, B planes
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch["labels"], dtype=np.int64))
        return self._finish(np.concatenate(xs), np.concatenate(ys), self.class_names)
