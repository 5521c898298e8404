"""Paired / unpaired data for translation GANs: folders written here as real PNGs, demo tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lightning_gen.data.paired import (
    PairedDataModule,
    PairedFolders,
    PairedTask,
    UnpairedFolders,
    edges,
    grayscale,
    low_res,
)
from lightning_gen.errors import ConfigError, DataError


def write_png(path: Path, value: int, size: int = 12, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size) if mode == "L" else (size, size, 3)
    Image.fromarray(np.full(shape, value, np.uint8), mode).save(path)


def test_paired_folders_match_by_name_and_batch_as_target_source(tmp_path):
    for i in range(10):  # A/ holds gray sources, B/ colour targets; the value encodes the pair
        write_png(tmp_path / "A" / f"img{i}.png", 10 * i)
        write_png(
            tmp_path / "B" / f"img{i}.jpg" if i % 2 else tmp_path / "B" / f"img{i}.png",
            10 * i + 5,
            mode="RGB",
        )
    dm = PairedDataModule(
        PairedFolders(str(tmp_path), image_size=8, channels=3, source_channels=1), batch_size=4
    )
    dm.setup()
    assert dm.image_shape == (3, 8, 8) and dm.source_shape == (1, 8, 8) and dm.num_classes == 0
    target, source = next(iter(dm.train_dataloader()))
    assert target.shape == (4, 3, 8, 8) and source.shape == (4, 1, 8, 8)
    src = (source[:, 0, 0, 0] + 1) * 127.5
    tgt = (target[:, 0, 0, 0] + 1) * 127.5
    assert torch.allclose(tgt - src, torch.full_like(src, 5.0), atol=2.0), "pairs must stay aligned"
    assert dm.label_counts() is None


def test_mismatched_pairs_name_the_files(tmp_path):
    for n in ("a", "b", "c"):
        write_png(tmp_path / "A" / f"{n}.png", 1)
    for n in ("a", "b", "d"):
        write_png(tmp_path / "B" / f"{n}.png", 1)
    with pytest.raises(DataError, match=r"only in A: \['c'\].*only in B: \['d'\]"):
        PairedFolders(str(tmp_path)).load()


def test_empty_or_missing_domains_are_clear_errors(tmp_path):
    write_png(tmp_path / "A" / "a.png", 1)
    (tmp_path / "B").mkdir()
    (tmp_path / "B" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="B is empty"):
        UnpairedFolders(str(tmp_path)).load()
    with pytest.raises(DataError, match="no folder"):
        PairedFolders(str(tmp_path / "nowhere")).load()


def test_unpaired_folders_repeat_the_smaller_domain(tmp_path):
    for i in range(3):
        write_png(tmp_path / "A" / f"a{i}.png", 100, mode="RGB")
    for i in range(7):
        write_png(tmp_path / "B" / f"b{i}.png", 200, mode="RGB")
    ds = UnpairedFolders(str(tmp_path), image_size=8).load()
    assert len(ds) == 7
    b, a = ds[5]
    assert a.shape == b.shape == (3, 8, 8)
    assert a.mean().item() == pytest.approx(100 / 127.5 - 1) and b.mean().item() == pytest.approx(
        200 / 127.5 - 1
    )


def test_demo_transforms():
    img = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    img[:, :, 4:12, 4:12] = 255
    e = edges(img)[0, 0]
    assert (
        e[8, 8] == 0 and e[0, 0] == 0 and e[4, 8] > 100 and e.max() == 255
    )  # only the square's border
    flat = torch.full((2, 3, 16, 16), 77, dtype=torch.uint8)
    assert torch.equal(low_res(flat), flat)  # a flat image survives down/up sampling
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None]) % 2 * 255
    blurred = low_res(checker.to(torch.uint8).expand(1, 1, 16, 16), factor=4)
    assert blurred.float().std() < 5  # fine detail is lost
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    g = grayscale(rgb)
    assert g.shape == (1, 3, 2, 2) and int(g[0, 0, 0, 0]) == 76 and torch.equal(g[:, 0], g[:, 2])


def test_paired_task_on_bundled_digits():
    from lightning_gen.data.bundled import SklearnDigits

    ds = PairedTask(SklearnDigits(image_size=16), task="edges").load()
    target, source = ds[0]
    assert target.shape == source.shape == (1, 16, 16) and not torch.equal(target, source)
    with pytest.raises(ConfigError, match="task='sketch'"):
        PairedTask(SklearnDigits(), task="sketch")
