"""ImageDataModule: seeded splits, what a batch holds, loader settings, config instantiation, smoke run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lightning_gen.data import ImageDataModule, ImageTensorDataset
from lightning_gen.data.folder import ImageFolder
from lightning_gen.errors import ConfigError, DataError
from tests.helpers.data_files import write_image


class Sorted:
    """100 1x4x4 images sorted by class (like an image folder): pixel value = index, label = i // 10."""

    def __init__(self, labelled: bool = True) -> None:
        self.labelled = labelled

    def load(self) -> ImageTensorDataset:
        x = (
            torch.arange(100, dtype=torch.uint8)
            .view(100, 1, 1, 1)
            .expand(100, 1, 4, 4)
            .contiguous()
        )
        return ImageTensorDataset(x, torch.arange(100) // 10 if self.labelled else None)


def split_ids(dm: ImageDataModule, split: str) -> list[int]:
    return sorted(dm.splits[split].indices)


def test_splits_are_disjoint_and_deterministic_by_seed():
    a, b, c = (ImageDataModule(Sorted(), batch_size=8, seed=s) for s in (0, 0, 1))
    for dm in (a, b, c):
        dm.setup()
    sizes = [len(a.splits[s]) for s in ("train", "val", "test")]
    assert sizes == [80, 10, 10]
    assert sorted(split_ids(a, "train") + split_ids(a, "val") + split_ids(a, "test")) == list(
        range(100)
    )
    assert all(split_ids(a, s) == split_ids(b, s) for s in ("train", "val", "test"))
    assert split_ids(a, "val") != split_ids(c, "val")
    x, y = next(iter(a.val_dataloader()))  # val loader is unshuffled: same batch every time
    x2, _ = next(iter(b.val_dataloader()))
    assert torch.equal(x, x2) and x.shape == (8, 1, 4, 4) and y.dtype == torch.long
    assert torch.equal(((x[:, 0, 0, 0] + 1) * 127.5).round().long() // 10, y)  # labels match images
    assert int(a.label_counts("train").sum()) == 80 and a.label_counts("train").shape == (10,)


def test_limit_draws_from_every_class_of_a_sorted_source():
    dm = ImageDataModule(Sorted(), batch_size=4, limit=30, seed=3)
    dm.setup()
    ids = split_ids(dm, "train") + split_ids(dm, "val") + split_ids(dm, "test")
    assert len(ids) == 30 and len(set(ids)) == 30
    assert len({i // 10 for i in ids}) >= 8  # not just the first three classes


def test_unlabelled_batches_have_label_none():
    dm = ImageDataModule(Sorted(labelled=False), batch_size=16)
    x, y = next(iter(dm.train_dataloader()))
    assert y is None and x.shape == (16, 1, 4, 4) and x.min() >= -1 and x.max() <= 1
    assert dm.num_classes == 0 and dm.label_counts() is None


def test_batch_size_larger_than_training_split_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"batch_size=81 is larger than the training split \(80 images\)"
    ):
        ImageDataModule(Sorted(), batch_size=81).setup()
    with pytest.raises(ConfigError, match="batch_size"):
        ImageDataModule(Sorted(), batch_size=0)
    with pytest.raises(ConfigError, match="val_fraction"):
        ImageDataModule(Sorted(), val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(DataError, match="val split is empty"):
        ImageDataModule(Sorted(), batch_size=8, val_fraction=0.0).val_dataloader()


def test_workers_and_pinning_reach_every_loader():
    dm = ImageDataModule(Sorted(), batch_size=8, num_workers=2, pin_memory=True, drop_last=True)
    loaders = [
        dm.train_dataloader(),
        dm.val_dataloader(),
        dm.test_dataloader(),
        dm.split_dataloader("val"),
    ]
    assert all(dl.num_workers == 2 and dl.pin_memory for dl in loaders)
    assert loaders[0].persistent_workers and loaders[0].drop_last and not loaders[1].drop_last


def test_multiprocess_workers_on_a_lazy_folder(tmp_path):
    for i in range(12):
        write_image(tmp_path / f"c{i % 2}" / f"{i}.png", np.full((6, 6, 3), 20 * i, np.uint8))
    dm = ImageDataModule(
        ImageFolder(tmp_path, image_size=4, cache=False),
        batch_size=5,
        val_fraction=0.0,
        test_fraction=0.0,
        num_workers=1,
    )
    batches = list(dm.split_dataloader("train", batch_size=6))
    labels = torch.cat([b[1] for b in batches])
    assert torch.bincount(labels).tolist() == [6, 6] and batches[0][0].shape == (6, 3, 4, 4)


DATA_CONFIGS = ["folder", "mnist_full", "fashion_mnist", "cifar10", "celeba64", "mnist", "digits"]


def test_every_data_config_instantiates(tmp_path):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    folder = Path(__file__).parents[2] / "configs" / "data"
    for name in DATA_CONFIGS:
        cfg = OmegaConf.create({"paths": {"data_dir": str(tmp_path)}, "seed": 7})
        cfg.data = OmegaConf.load(folder / f"{name}.yaml")
        dm = instantiate(cfg.data, _convert_="all")
        assert isinstance(dm, ImageDataModule) and dm.seed == 7, name
        root = getattr(dm.source, "root", None)
        assert root is None or str(tmp_path) in str(root), name


@pytest.mark.slow
def test_smoke_train_on_an_image_folder(tmp_path):
    """`lgen train debug=smoke data=folder`: a real run on PNGs written here, with one corrupt file."""
    rng = np.random.default_rng(0)
    for i in range(40):
        write_image(
            tmp_path / "imgs" / f"k{i % 2}" / f"{i}.png",
            rng.integers(0, 256, (20, 24, 3), dtype=np.uint8),
        )
    (tmp_path / "imgs" / "k0" / "broken.png").write_bytes(b"\x89PNG broken")
    env = {**os.environ, "LGEN_ROOT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-m",
        "lightning_gen.commands.cli",
        "train",
        "debug=smoke",
        "data=folder",
        "name=folder_smoke",
        f"data.source.root={tmp_path / 'imgs'}",
        "data.source.image_size=16",
        "data.source.on_corrupt=skip",
        "model.widths=[8,16]",
        "model.latent_dim=8",
        "logger=csv",
    ]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = next(Path(tmp_path, "runs").rglob("config.yaml")).read_text()
    assert "image_size: 16" in config and "on_corrupt: skip" in config
    assert "skipped 1 unreadable image" in proc.stdout + proc.stderr
    bad = subprocess.run(
        args[:-6] + [f"data.source.root={tmp_path / 'missing'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
