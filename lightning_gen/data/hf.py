"""Images from a Hugging Face ``datasets`` dataset (the optional ``hf`` extra:
``pip install 'lightning-gen[hf]'``).

``path`` is what ``datasets.load_dataset`` takes: a hub name (``"mnist"``, downloaded once into
``cache_dir``) or a packaged builder such as ``"imagefolder"`` with ``data_dir=<local folder>``
(no network: class subfolders become labels). Every image goes through the one decoder's rules
(``lightning_gen.data.decode.convert_image``: EXIF, alpha onto white, channels, ``resize``), so a
folder loads the same through this source as through ``data=folder``.
"""

from __future__ import annotations

from typing import Any

import torch

from lightning_gen.data.dataset import ImageTensorDataset
from lightning_gen.data.decode import PIL_MODE, RESIZE_MODES, convert_image
from lightning_gen.errors import ConfigError, DataError


class HFImages:
    """``load()`` -> ``ImageTensorDataset`` of ``uint8 (N, channels, S, S)`` with labels if present."""

    def __init__(
        self,
        path: str = "imagefolder",
        data_dir: str | None = None,
        name: str | None = None,
        split: str = "train",
        image_column: str = "image",
        label_column: str | None = "label",
        image_size: int = 64,
        channels: int = 3,
        resize: str = "center_crop",
        cache_dir: str | None = None,
    ) -> None:
        if channels not in PIL_MODE:
            raise ConfigError(f"data.source.channels={channels}: must be 1 (greyscale) or 3 (RGB)")
        if resize not in RESIZE_MODES:
            raise ConfigError(
                f"data.source.resize={resize!r}: choose one of {sorted(RESIZE_MODES)}"
            )
        if image_size < 1:
            raise ConfigError(f"data.source.image_size={image_size} is not valid: must be >= 1")
        self.path, self.data_dir, self.name, self.split = path, data_dir, name, split
        self.image_column, self.label_column = image_column, label_column
        self.image_size, self.channels, self.resize = image_size, channels, resize
        self.cache_dir = cache_dir

    def _load_dataset(self) -> Any:
        try:
            import datasets
        except ImportError as exc:
            raise ConfigError(
                "data=hf_images needs the Hugging Face datasets package: "
                "pip install 'lightning-gen[hf]' (or use data=folder for a local folder)"
            ) from exc
        try:
            return datasets.load_dataset(
                self.path,
                self.name,
                data_dir=self.data_dir,
                split=self.split,
                cache_dir=self.cache_dir,
            )
        except Exception as exc:  # noqa: BLE001 - missing folder, no network, unknown name, ...
            raise DataError(
                f"datasets.load_dataset({self.path!r}, data_dir={self.data_dir!r}, "
                f"split={self.split!r}) failed: {type(exc).__name__}: {exc}; check "
                "data.source.path/data_dir/split (a hub name needs network once, then cache_dir)"
            ) from exc

    def load(self) -> ImageTensorDataset:
        """Load the split, decode every row's image and keep ``uint8`` tensors in memory."""
        ds = self._load_dataset()
        if self.image_column not in ds.column_names:
            raise ConfigError(
                f"data.source.image_column={self.image_column!r} is not a column of {self.path} "
                f"(columns: {ds.column_names})"
            )
        if len(ds) == 0:
            raise DataError(f"{self.path} split {self.split!r} has no rows")
        images = torch.stack(
            [
                convert_image(row, self.image_size, self.channels, self.resize)
                for row in ds[self.image_column]
            ]
        )  # (N, C, S, S) uint8
        labels, names = None, None
        if self.label_column and self.label_column in ds.column_names:
            labels = torch.tensor(ds[self.label_column], dtype=torch.long)
            feature = ds.features[self.label_column]
            names = list(getattr(feature, "names", []) or []) or None
        return ImageTensorDataset(images, labels, names)
