"""Hugging Face ``datasets`` source (the ``hf`` extra), tested offline on a local image folder: the
same images and labels as ``data=folder`` (one decoder), issue 14.4."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_gen.data.folder import ImageFolder
from lightning_gen.data.hf import HFImages
from lightning_gen.errors import ConfigError, DataError


@pytest.fixture
def image_tree(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(3):
            arr = rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)  # not square: resize rule
            Image.fromarray(arr).save(tmp_path / "img" / cls / f"{i}.png")
    return tmp_path


def test_local_imagefolder_matches_the_folder_source(image_tree, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = HFImages(
        "imagefolder",
        data_dir=str(image_tree / "img"),
        image_size=8,
        channels=1,
        cache_dir=str(image_tree / "hf_cache"),
    )
    got = src.load()
    ref = ImageFolder(image_tree / "img", image_size=8, channels=1).load()
    assert got.images.shape == (6, 1, 8, 8) and got.images.dtype == torch.uint8
    assert got.class_names == ["cat", "dog"] == ref.class_names
    # row order may differ: compare as multisets of (label, image)
    key = lambda ds: sorted(  # noqa: E731
        (int(y), x.numpy().tobytes()) for x, y in zip(ds.images, ds.labels, strict=True)
    )
    assert key(got) == key(ref)


def test_bad_column_and_missing_folder_are_clear(image_tree):
    cache = str(image_tree / "hf_cache")
    with pytest.raises(ConfigError, match="image_column='picture' is not a column"):
        HFImages(data_dir=str(image_tree / "img"), image_column="picture", cache_dir=cache).load()
    with pytest.raises(DataError, match=r"load_dataset\('imagefolder'.*check data.source.path"):
        HFImages(data_dir=str(image_tree / "nope"), cache_dir=cache).load()
    with pytest.raises(ConfigError, match="channels=2"):
        HFImages(channels=2)
