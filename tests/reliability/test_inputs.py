"""Bad input through ``lgen train``'s ``train(cfg)``: each is a clear error raised before anything in
the run folder is written, or a documented safe behaviour (corrupt files skipped on request, mixed
sizes/channels converted). Also: resumed loggers continue the same run (CSV rows, TB purge, W&B id).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from lightning_gen.commands.train import train
from lightning_gen.errors import ConfigError, DataError
from lightning_gen.reliability.checkpoint_io import load_checkpoint
from lightning_gen.reliability.loggers import ResumableCSVLogger, resume_logger_overrides
from tests.helpers.data_files import write_image

FOLDER = [
    "debug=smoke",
    "data=folder",
    "model.widths=[8,16]",
    "data.source.image_size=16",
    "data.batch_size=4",
    "data.limit=null",
    "trainer.max_epochs=1",
    "callbacks.image_grids=null",
    "test=false",
    "name=rel",
]


def run(out: Path, *overrides: str) -> dict[str, float]:
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose("train", overrides=[*FOLDER, *overrides, f"paths.output_dir={out}"])
    return train(cfg)


def images(folder: Path, n: int, size: int = 20, mode: str = "L") -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        shape = (size, size) if mode == "L" else (size, size + 7, 3)
        write_image(folder / f"img{i:02d}.png", rng.integers(0, 255, shape, dtype=np.uint8))
    return folder


def assert_untouched(out: Path) -> None:
    assert not (out / "checkpoints").exists() and not (out / "csv").exists()


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda d: d / "missing", DataError, r"image folder .*missing does not exist"),
        (lambda d: (d / "empty").mkdir() or d / "empty", DataError, r"no images with extensions"),
        (
            lambda d: images(d / "few", 3),
            ConfigError,
            r"data.batch_size=4 is larger than the training split \(\d images\)",
        ),
    ],
    ids=["missing-dataset", "empty-folder", "batch-larger-than-dataset"],
)
def test_bad_dataset_is_a_clear_error_and_writes_nothing(make, error, message, tmp_path):
    root = make(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(error, match=message):
        run(out, f"data.source.root={root}")
    assert_untouched(out)


def test_corrupt_image_names_the_file(tmp_path):
    root = images(tmp_path / "imgs", 30)
    (root / "img07.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    out = tmp_path / "run"
    with pytest.raises(DataError, match=r"cannot read image .*img07\.png.*on_corrupt=skip"):
        run(out, f"data.source.root={root}")
    assert_untouched(out)


def test_invalid_config_value_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"trainer.max_epochs='abc' is not valid"):
        run(tmp_path / "run", "trainer.max_epochs=abc", f"data.source.root={tmp_path}")


def test_mixed_sizes_channels_and_skipped_corrupt_files_train(tmp_path):
    root = images(tmp_path / "imgs", 20)  # greyscale 20x20
    images(tmp_path / "rgb", 20, size=33, mode="RGB")  # RGB 33x40
    for p in (tmp_path / "rgb").iterdir():
        p.rename(root / f"rgb_{p.name}")
    (root / "broken.png").write_bytes(b"garbage")
    out = tmp_path / "run"
    metrics = run(
        out, f"data.source.root={root}", "data.source.on_corrupt=skip", "data.source.channels=3"
    )
    ckpt = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["hyper_parameters"]["image_shape"] == [3, 16, 16] and metrics["val/loss"] > 0


# -- loggers continue the resumed run ----------------------------------------------------------
def test_logger_configs_are_rewritten_for_a_resume():
    cfg = OmegaConf.create(
        {
            "csv": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": "x"},
            "tensorboard": {
                "_target_": "lightning.pytorch.loggers.TensorBoardLogger",
                "save_dir": "x",
            },
            "wandb": {"_target_": "lightning_gen.loggers.make_wandb_logger", "project": "p"},
        }
    )
    OmegaConf.set_struct(cfg, True)
    resume_logger_overrides(cfg, global_step=7, wandb_id="abc123")
    assert (
        cfg.csv._target_ == "lightning_gen.reliability.loggers.ResumableCSVLogger"
        and cfg.csv.resume_step == 7
    )
    assert cfg.tensorboard.purge_step == 7
    assert cfg.wandb.id == "abc123" and cfg.wandb.resume == "allow"


def test_resumable_csv_logger_keeps_rows_before_the_resume_step(tmp_path):
    first = ResumableCSVLogger(tmp_path, name="csv", version="")
    for step in range(6):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.save()
    again = ResumableCSVLogger(tmp_path, name="csv", version="", resume_step=4)
    again.log_metrics({"train/loss": 40.0}, step=4)
    again.save()
    rows = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3", "4"] and rows[-1].startswith(
        "4,40.0"
    )
