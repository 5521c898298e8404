"""Generated images handed to ``lgen evaluate images=<.npz | .npy | folder>``: checked, then
converted explicitly to ``uint8 (N, C, H, W)``.

Accepted, and nothing else (each refusal is one ``DataError`` line naming the file and the fix):

- ``uint8`` arrays, read as ``[0, 255]``;
- float arrays (float16/32/64) with every value in ``[-1, 1]`` (the framework's image range);
- any real dtype (int64, uint16, floats in ``[0, 1]``, ...) when ``value_range=(lo, hi)`` is given
  (``lgen evaluate ... range=[0,1]``): every value must lie in ``[lo, hi]``, and the images are
  mapped linearly ``lo -> -1``, ``hi -> 1``, then to ``uint8`` by ``images.to_uint8``;
- layouts ``(N, H, W)``, ``(N, C, H, W)``, ``(N, H, W, C)`` with ``C`` in 1 or 3 and ``N >= 2``;
- a folder of image files, decoded by ``lightning_gen.data.decode`` at their native size (never
  resized: a resize would change the score) and all of one size.

Refused: NaN/inf, values outside the range, other dtypes without ``range``, a single image, an
empty array or folder, and (given ``image_shape``) a channel count or size other than the
reference data's. The checks run before any feature extractor is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lightning_gen.data.decode import decode_image
from lightning_gen.errors import DataError
from lightning_gen.images import to_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
FLOAT_SLACK = 1e-3  # float rounding (float16 saves) allowed outside [-1, 1] / [lo, hi]
FIX = "save uint8 in [0, 255] or floats in [-1, 1], or pass range=[lo,hi] (e.g. range=[0,1])"


def _read_array(p: Path, name: str) -> np.ndarray:
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        with np.load(p, allow_pickle=False) as data:
            keys = list(data.keys())
            if "images" not in keys and len(keys) != 1:
                raise DataError(f"{name}: name the array 'images' (found {keys})")
            return data["images" if "images" in keys else keys[0]]
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip/pickle/format errors: a damaged file
        raise DataError(
            f"{name}: not a readable {p.suffix} file ({type(exc).__name__}: {exc}); "
            "save it with numpy.savez(path, images=array)"
        ) from exc


def _read_folder(p: Path, name: str) -> np.ndarray:
    files = sorted(
        f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
    )
    if not files:
        raise DataError(f"{name}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    images = [decode_image(f, image_size=None, channels=None) for f in files]
    first = images[0].shape
    for f, img in zip(files, images, strict=True):
        if img.shape != first:
            raise DataError(
                f"{name}: {f.name} is {tuple(img.shape)} (C, H, W) but {files[0].name} is "
                f"{tuple(first)}; save every image at the reference size"
            )
    return torch.stack(images).numpy()  # (N, C, H, W) uint8


def _to_nchw(x: np.ndarray, name: str, image_shape: Sequence[int] | None) -> np.ndarray:
    """``(N, C, H, W)`` from ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``."""
    if image_shape is not None and x.shape in (tuple(image_shape), tuple(image_shape[1:])):
        raise DataError(
            f"{name}: holds a single image of shape {x.shape}; stack at least 2 images as (N, ...)"
        )
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W)
    elif x.ndim == 4:
        c = image_shape[0] if image_shape is not None else None
        channels_last = x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3)
        if c is not None and x.shape[1] != c and x.shape[-1] == c:
            channels_last = True
        if channels_last:
            x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    else:
        raise DataError(
            f"{name}: expected images (N, H, W), (N, C, H, W) or (N, H, W, C), got shape {x.shape}"
        )
    return x


def _check_values(x: np.ndarray, name: str, value_range: Sequence[float] | None) -> np.ndarray:
    """The array mapped to float ``[-1, 1]`` (or kept ``uint8``), after the dtype/range checks."""
    kind = x.dtype.kind
    if kind not in "uif" or x.dtype == np.bool_:
        raise DataError(f"{name}: dtype {x.dtype} is not an image dtype; {FIX}")
    if kind == "f" and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise DataError(f"{name}: {bad} value(s) are NaN or inf; fix the generator's output")
    if value_range is None:
        if x.dtype == np.uint8:
            return x
        if kind != "f":
            raise DataError(f"{name}: dtype {x.dtype} has no documented range; {FIX}")
        lo, hi = -1.0, 1.0
    else:
        if len(value_range) != 2 or not float(value_range[0]) < float(value_range[1]):
            raise DataError(
                f"range={list(value_range)}: give two numbers lo < hi, e.g. range=[0,1]"
            )
        lo, hi = float(value_range[0]), float(value_range[1])
    xmin, xmax = float(x.min()), float(x.max())
    slack = FLOAT_SLACK * (hi - lo) / 2
    if xmin < lo - slack or xmax > hi + slack:
        hint = "" if value_range is not None else f"; {FIX}"
        raise DataError(
            f"{name}: values span [{xmin:.4g}, {xmax:.4g}], outside the range [{lo:g}, {hi:g}]"
            f" ({x.dtype}){hint}"
        )
    if value_range is None:
        return x  # floats already in [-1, 1]
    return (x.astype(np.float64) - lo) / (hi - lo) * 2.0 - 1.0


def load_image_array(
    path: str | Path,
    value_range: Sequence[float] | None = None,
    image_shape: Sequence[int] | None = None,
) -> torch.Tensor:
    """Checked ``uint8 (N, C, H, W)`` images from an ``.npz``/``.npy`` file or a folder (see module doc).

    ``value_range``: ``(lo, hi)`` of the stored values (``None``: uint8 ``[0, 255]`` or float
    ``[-1, 1]``). ``image_shape``: the reference data's ``(C, H, W)``; a mismatch is refused.
    """
    p = Path(path)
    name = f"images={path}"
    if p.is_dir():
        if value_range is not None:
            raise DataError(f"range= applies to .npz/.npy arrays; image files in {path} are 8-bit")
        arr = _read_folder(p, name)
    elif p.is_file() and p.suffix in (".npz", ".npy"):
        arr = _read_array(p, name)
    else:
        raise DataError(
            f"{name}: pass a folder of images or an .npz/.npy file (not found or other)"
        )
    if arr.size == 0 or arr.ndim == 0:
        raise DataError(f"{name}: holds no images (shape {arr.shape}); save at least 2 images")
    arr = _to_nchw(arr, name, image_shape)
    if len(arr) < 2:
        raise DataError(f"{name}: holds a single image; FID/KID need at least 2 images (N, ...)")
    if arr.shape[1] not in (1, 3):
        raise DataError(f"{name}: {arr.shape[1]} channels in shape {arr.shape}; images have 1 or 3")
    if image_shape is not None and tuple(arr.shape[1:]) != tuple(image_shape):
        raise DataError(
            f"{name}: images are {tuple(arr.shape[1:])} (C, H, W) but the reference data's are "
            f"{tuple(image_shape)}; generate at that size/channels or pick the matching data="
        )
    vals = _check_values(arr, name, value_range)
    if vals.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(vals))
    return to_uint8(torch.from_numpy(np.ascontiguousarray(vals)))
