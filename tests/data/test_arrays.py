"""`lgen evaluate images=`: only documented dtypes/ranges are scored; everything else is one clear
error naming the file and the fix, raised before a feature extractor is built (issue 15.3, 14.3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lightning_gen.data.arrays import load_image_array
from lightning_gen.errors import DataError
from lightning_gen.images import to_uint8

SHAPE = (1, 8, 8)


def save(tmp_path, arr, name="x.npz"):
    path = tmp_path / name
    np.savez(path, images=arr)
    return path


def test_uint8_float_and_explicit_range_convert_to_the_same_images(tmp_path):
    x = to_uint8(torch.rand(6, 1, 8, 8) * 2 - 1)  # (N, C, H, W) uint8
    u8 = load_image_array(save(tmp_path, x.numpy()), image_shape=SHAPE)
    f = load_image_array(save(tmp_path, (x.double() / 127.5 - 1).numpy()), image_shape=SHAPE)
    unit = load_image_array(save(tmp_path, (x.double() / 255).numpy()), [0, 1], SHAPE)
    i64 = load_image_array(save(tmp_path, x.long().numpy()), [0, 255], SHAPE)
    nhw = load_image_array(save(tmp_path, x[:, 0].numpy()), image_shape=SHAPE)
    for got in (u8, f, unit, i64, nhw):
        assert got.dtype == torch.uint8 and torch.equal(got, x)


@pytest.mark.parametrize(
    ("arr", "value_range", "match"),
    [
        (
            np.zeros((4, 8, 8), np.int64),
            None,
            r"dtype int64 has no documented range.*range=\[lo,hi\]",
        ),
        (
            np.full((4, 8, 8), 0.5, np.float32) + np.eye(8, dtype=np.float32),
            None,
            r"outside the range \[-1, 1\].*range=",
        ),
        (np.full((4, 8, 8), np.nan, np.float32), None, "NaN or inf"),
        (np.full((4, 8, 8), np.inf, np.float64), [0, 1], "NaN or inf"),
        (np.zeros((4, 8, 8), np.bool_), None, "not an image dtype"),
        (np.full((4, 8, 8), 300, np.int64), [0, 255], r"values span \[300, 300\]"),
        (np.zeros((1, 1, 8, 8), np.uint8), None, "single image"),
        (np.zeros((1, 8, 8), np.uint8), None, "single image"),
        (np.zeros((0, 1, 8, 8), np.uint8), None, "holds no images"),
        (
            np.zeros((4, 3, 8, 8), np.uint8),
            None,
            r"images are \(3, 8, 8\).*reference data's are \(1, 8, 8\)",
        ),
        (np.zeros((4, 1, 16, 16), np.uint8), None, r"\(1, 16, 16\).*generate at that size"),
        (np.zeros((4, 8), np.uint8), None, "expected images"),
        (np.zeros((4, 8, 8), np.uint8), [1, 0], "lo < hi"),
    ],
)
def test_bad_arrays_are_one_line_errors_naming_the_file(tmp_path, arr, value_range, match):
    path = save(tmp_path, arr)
    with pytest.raises(DataError, match=match) as err:
        load_image_array(path, value_range, SHAPE)
    assert str(path) in str(err.value) or "range=" in str(err.value)
    assert "\n" not in str(err.value)


def test_damaged_files_folders_and_wrong_suffixes_are_refused(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad.npz: not a readable .npz"):
        load_image_array(tmp_path / "bad.npz")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="folder of images or an .npz/.npy"):
        load_image_array(tmp_path / "x.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        load_image_array(tmp_path / "empty")


def test_folder_of_pngs_is_checked_against_the_reference(tmp_path):
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    got = load_image_array(folder, image_shape=SHAPE)
    assert got.shape == (3, 1, 8, 8) and got[2].unique().tolist() == [80]
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(folder / "3.png")
    with pytest.raises(DataError, match="3.png is"):
        load_image_array(folder, image_shape=SHAPE)
    (folder / "3.png").unlink()
    with pytest.raises(DataError, match=r"images are \(1, 8, 8\).*\(3, 8, 8\)"):
        load_image_array(folder, image_shape=(3, 8, 8))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    arr=hnp.arrays(
        dtype=st.sampled_from(
            [np.uint8, np.int16, np.int64, np.uint16, np.float16, np.float32, np.float64]
        ),
        shape=hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=9),
    ),
    value_range=st.sampled_from([None, [0, 1], [-1, 1], [0, 255]]),
)
def test_any_array_is_scored_as_valid_uint8_or_refused_with_a_data_error(
    tmp_path, arr, value_range
):
    """Property: whatever array arrives, the loader returns checked uint8 NCHW images of the reference
    shape, or raises DataError (never another exception, never NaN-derived numbers)."""
    path = save(tmp_path, arr)
    try:
        got = load_image_array(path, value_range, SHAPE)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert got.dtype == torch.uint8 and got.shape[1:] == SHAPE and len(got) >= 2
    finite = np.isfinite(arr.astype(np.float64)).all()
    assert finite and (arr.dtype == np.uint8 or arr.dtype.kind == "f" or value_range is not None)


def test_evaluate_rejects_bad_images_before_building_the_extractor(tmp_path, monkeypatch):
    import lightning_gen.commands.evaluate as ev

    def boom(*a, **k):
        raise AssertionError("extractor built before the images were checked")

    monkeypatch.setattr(ev, "resolve_extractor", boom)
    path = save(tmp_path, np.zeros((10, 16, 16), np.int64))
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            "evaluate",
            overrides=[
                "data=digits",
                f"images={path}",
                f"paths.root_dir={tmp_path}",
                f"paths.cache_dir={tmp_path}/cache",
                f"paths.output_dir={tmp_path}/eval",
            ],
        )
    with pytest.raises(DataError, match=r"x.npz: dtype int64 has no documented range"):
        ev.evaluate(cfg)
    cfg.range = [0, 1]  # int64 zeros within range=[0,1] pass the checks: the extractor comes next
    with pytest.raises(AssertionError, match="extractor built"):
        ev.evaluate(cfg)
