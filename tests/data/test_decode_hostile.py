"""Hostile image files through the one decoder (issue 14.3): every file either decodes to uint8
``(C, S, S)`` by the documented rules or is refused with a ``DataError`` naming it."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lightning_gen.data.decode import MAX_PIXELS, decode_image
from lightning_gen.data.folder import ImageFolder
from lightning_gen.errors import DataError

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr", "HSV"]
FORMATS = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP", "tif": "TIFF", "webp": "WEBP", "gif": "GIF"}
HOSTILE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def encode(img: Image.Image, fmt: str) -> bytes | None:
    buf = io.BytesIO()
    try:
        img.save(buf, fmt)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # this format cannot hold this mode: not a file a user could have
    return buf.getvalue()


def check(path, channels, size):
    """The property: a uint8 (channels, size, size) tensor, or a one-line DataError naming path."""
    try:
        x = decode_image(path, size, channels)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return None
    assert x.dtype == torch.uint8 and x.shape == (channels, size, size)
    return x


@HOSTILE
@given(
    mode=st.sampled_from(MODES),
    w=st.integers(1, 40),
    h=st.integers(1, 40),
    ext=st.sampled_from(sorted(FORMATS)),
    saved_as=st.sampled_from(sorted(FORMATS)),
    channels=st.sampled_from([1, 3]),
    size=st.integers(1, 16),
    seed=st.integers(0, 2**16),
)
def test_any_mode_size_format_and_extension_decodes_or_is_refused(
    tmp_path, mode, w, h, ext, saved_as, channels, size, seed
):
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    img = Image.fromarray(arr, "RGBA").convert(mode)
    data = encode(img, FORMATS[saved_as])
    if data is None:
        return
    path = tmp_path / f"img.{ext}"  # the extension may lie about the format
    path.write_bytes(data)
    assert check(path, channels, size) is not None  # a real image in any mode decodes


@HOSTILE
@given(data=st.binary(max_size=2048), ext=st.sampled_from(sorted(FORMATS)))
def test_random_bytes_are_refused_naming_the_file(tmp_path, data, ext):
    path = tmp_path / f"junk.{ext}"
    path.write_bytes(data)
    check(path, 3, 8)


@HOSTILE
@given(fmt=st.sampled_from(["PNG", "JPEG"]), cut=st.floats(0.0, 0.95))
def test_truncated_png_and_jpeg_are_refused(tmp_path, fmt, cut):
    arr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = encode(Image.fromarray(arr), fmt)
    path = tmp_path / "cut.img"
    path.write_bytes(data[: int(len(data) * cut)])
    assert check(path, 3, 8) is None


def test_sixteen_bit_palette_cmyk_rgba_and_1x1(tmp_path):
    i16 = Image.fromarray(np.array([[0, 65535]], dtype=np.uint16))
    i16.save(tmp_path / "i16.png")
    assert decode_image(tmp_path / "i16.png", None, 1).tolist() == [[[0, 255]]]
    rgba = Image.new("RGBA", (1, 1), (0, 0, 0, 0))  # fully transparent: composited onto white
    rgba.save(tmp_path / "rgba.png")
    assert decode_image(tmp_path / "rgba.png", 4, 3).unique().tolist() == [255]
    Image.new("CMYK", (3, 2), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg")
    assert decode_image(tmp_path / "cmyk.jpg", None, 3).shape == (3, 2, 3)
    pal = Image.new("P", (2, 2), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    pal.save(tmp_path / "pal.png")
    assert decode_image(tmp_path / "pal.png", None, 3)[:, 0, 0].tolist() == [10, 20, 30]


def test_exif_rotated_photo_is_upright(tmp_path):
    img = Image.new("RGB", (4, 2), (0, 0, 0))
    img.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif, quality=100)
    x = decode_image(tmp_path / "r.jpg", None, 1)
    assert x.shape == (1, 4, 2) and x[0, 0, 1] > 200  # the white corner moved to the top right


def huge_png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims ``w x h`` pixels with almost no data (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    body += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize("side", [9000, 60000])
def test_very_large_images_are_refused_before_decoding(tmp_path, side):
    assert side * side > MAX_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_png_header(side, side))
    with pytest.raises(DataError, match=r"bomb.png"):
        decode_image(path, 8, 1)


def test_folder_of_hostile_files_skips_and_counts_them(tmp_path):
    Image.new("RGB", (5, 3), (9, 9, 9)).save(tmp_path / "good.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG junk")
    (tmp_path / "bomb.png").write_bytes(huge_png_header(9000, 9000))
    ds = ImageFolder(tmp_path, image_size=4, channels=1, on_corrupt="skip").load()
    assert len(ds) == 1 and ds.images.shape == (1, 1, 4, 4)
    with pytest.raises(DataError, match=r"bomb.png|junk.png.*on_corrupt=skip"):
        ImageFolder(tmp_path, image_size=4, channels=1).load()
