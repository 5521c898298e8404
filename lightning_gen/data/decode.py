"""The one image-file decoder: every source that reads image files (folders, paired folders,
``lgen evaluate images=<folder>``, the Hugging Face source) goes through ``decode_image``.

Rules, in order:

1. full decode with Pillow (a truncated or corrupt file fails here, never later in training);
2. EXIF orientation applied (camera photos come out upright);
3. channels: 16/32-bit greyscale is scaled to 8 bits (by 65535 when any value exceeds 255),
   an alpha channel (RGBA, LA, palette with transparency) is composited onto white, then the image
   is converted to ``L`` (1 channel) or ``RGB`` (3 channels); ``channels=None`` keeps greyscale
   images greyscale and turns everything else (palette, CMYK, YCbCr, ...) into RGB;
4. size: ``image_size=None`` keeps the native size; otherwise ``resize`` brings it to a square:
   ``center_crop`` (default; scale the short side, cut the centre), ``stretch`` (scale both sides)
   or ``pad`` (scale the long side, pad with black). Resampling is always bicubic.

Images larger than ``MAX_PIXELS`` are refused before decoding (a decompression bomb or a mistake).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from lightning_gen.errors import DataError

MAX_PIXELS = 8192 * 8192
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
PIL_MODE = {1: "L", 3: "RGB"}


def _center_crop(img: Image.Image, size: int) -> Image.Image:
    return ImageOps.fit(img, (size, size), method=Image.Resampling.BICUBIC)


def _stretch(img: Image.Image, size: int) -> Image.Image:
    return img.resize((size, size), Image.Resampling.BICUBIC)


def _pad(img: Image.Image, size: int) -> Image.Image:
    return ImageOps.pad(img, (size, size), method=Image.Resampling.BICUBIC, color=0)


# resize mode -> pure function (PIL image, size) -> size x size PIL image
RESIZE_MODES: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "center_crop": _center_crop,
    "stretch": _stretch,
    "pad": _pad,
}


def to_channels(img: Image.Image, channels: int | None) -> Image.Image:
    """Convert any Pillow mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, F...) to ``L`` or ``RGB``."""
    if channels is None:
        channels = 1 if img.mode in GREY_MODES else 3
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit grey: scale to 8 bits
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64))
        peak = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray((arr * (255.0 / peak)).round().clip(0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert(PIL_MODE[channels])


def decode_image(
    path: str | Path,
    image_size: int | None = None,
    channels: int | None = 3,
    resize: str = "center_crop",
) -> torch.Tensor:
    """Read one image file as ``uint8`` ``(C, H, W)`` by the module's rules.

    Raises ``DataError`` naming the file for anything Pillow cannot fully decode (random bytes,
    truncated files, unknown formats whatever the extension) and for images over ``MAX_PIXELS``.
    """
    if resize not in RESIZE_MODES:
        raise DataError(f"resize={resize!r}: choose one of {sorted(RESIZE_MODES)}")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise DataError(
                    f"image {path} is {img.width}x{img.height} pixels, over the {MAX_PIXELS} limit; "
                    "downscale it first"
                )
            img.load()  # full decode: truncated/corrupt files fail here, not later
            arr = convert_image(img, image_size, channels, resize)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
        raise DataError(
            f"cannot read image {path}: {type(exc).__name__}: {exc}. Remove or replace the file"
        ) from exc
    return arr


def convert_image(
    img: Image.Image,
    image_size: int | None = None,
    channels: int | None = 3,
    resize: str = "center_crop",
) -> torch.Tensor:
    """An already opened Pillow image (a file's, or a Hugging Face dataset row's) to ``uint8``
    ``(C, H, W)`` by rules 2-4 of the module doc."""
    img = ImageOps.exif_transpose(img)  # camera photos: apply the EXIF rotation
    img = to_channels(img, channels)
    if image_size is not None:
        img = RESIZE_MODES[resize](img, image_size)
    arr = np.asarray(img, dtype=np.uint8)
    arr = arr[..., None] if arr.ndim == 2 else arr  # (H, W, C)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()  # (C, H, W)
