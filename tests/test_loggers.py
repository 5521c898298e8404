"""Image grids and metrics reach every logger: CSV (PNG files), TensorBoard, W&B (offline)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from lightning_gen.callbacks.images import ImageGrids
from lightning_gen.callbacks.metrics_file import MetricsFile
from lightning_gen.callbacks.reconstruction import ReconstructionMetrics
from lightning_gen.data import ImageDataModule
from lightning_gen.data.bundled import SklearnDigits
from lightning_gen.loggers import make_wandb_logger
from lightning_gen.vae.module import VAE


def test_wandb_without_key_goes_offline_with_a_notice(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    with caplog.at_level("INFO"):
        logger = make_wandb_logger(project="t", save_dir=str(tmp_path))
    assert logger._offline is True
    assert any("no API key configured, logging offline" in r.getMessage() for r in caplog.records)


def test_wandb_logger_without_the_package_says_how_to_install_it(monkeypatch):
    import importlib.util

    from lightning_gen.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    with pytest.raises(
        ConfigError,
        match=r"logger=wandb needs the wandb package: pip install 'lightning-gen\[wandb\]'",
    ):
        make_wandb_logger(project="t")


@pytest.fixture(scope="module")
def fitted_with_all_loggers(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("loggers")
    dm = ImageDataModule(SklearnDigits(image_size=8), batch_size=32, limit=200)
    dm.setup()
    model = VAE(list(dm.image_shape), dm.num_classes, latent_dim=4, widths=[8])
    loggers = [
        CSVLogger(root, name="csv", version=""),
        TensorBoardLogger(root, name="tensorboard", version=""),
        make_wandb_logger(project="lgen-test", save_dir=str(root), offline=True),
    ]
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        limit_test_batches=1,
        logger=loggers,
        callbacks=[ReconstructionMetrics(), ImageGrids(num_images=8), MetricsFile()],
        default_root_dir=root,
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm)
    for lg in loggers:
        lg.finalize("success")
    import wandb

    wandb.finish()
    return root


def test_csv_logger_has_metrics_and_png_grids_are_written(fitted_with_all_loggers):
    root = fitted_with_all_loggers
    csv = (root / "csv" / "metrics.csv").read_text()
    assert "val/psnr" in csv and "val/ssim" in csv and "test/mse" in csv
    assert (root / "images" / "samples_epoch000.png").exists()
    assert (root / "images" / "reconstructions_test.png").exists()


def test_tensorboard_receives_images_and_scalars(fitted_with_all_loggers):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(
        str(next((fitted_with_all_loggers / "tensorboard").glob("events.out.tfevents*")).parent)
    )
    acc.Reload()
    assert {"images/samples", "images/reconstructions"} <= set(acc.Tags()["images"])
    assert "val/psnr" in acc.Tags()["scalars"]


def test_wandb_offline_run_holds_the_image_grids(fitted_with_all_loggers):
    media = list(
        (fitted_with_all_loggers / "wandb").glob("offline-run-*/files/media/images/images/*.png")
    )
    kinds = {p.name.split("_")[0] for p in media}
    assert {"samples", "reconstructions"} <= kinds, media


def test_whole_resolved_config_reaches_every_logger_and_wandb_gets_group_and_tags(tmp_path):
    import yaml

    from lightning_gen.instantiate import instantiate_group
    from lightning_gen.loggers import log_config
    from tests.helpers.configs import compose_train

    cfg = compose_train(tmp_path, "logger=all", "experiment=vae_mnist", "data=digits")
    loggers = instantiate_group(cfg.logger, "logger")
    wb = next(lg for lg in loggers if type(lg).__name__ == "WandbLogger")
    assert wb._wandb_init["group"] == "vae_mnist"
    assert wb._wandb_init["tags"] == ["family:vae", "dataset:digits", "experiment:vae_mnist"]
    log_config(loggers, cfg)
    for lg in loggers:
        lg.finalize("success")
    import wandb

    wandb.finish()
    run = tmp_path / "run"
    csv = yaml.safe_load((run / "csv" / "hparams.yaml").read_text())
    assert csv["config/model/_target_"] == "lightning_gen.vae.module.VAE"
    assert csv["config/trainer/max_epochs"] == 10 and csv["config/data/batch_size"] == 64
    tb = (next((run / "tensorboard").glob("events.out.tfevents*"))).read_bytes()
    assert b"config/model/latent_dim" in tb
    record = next(run.glob("wandb/offline-run-*/run-*.wandb")).read_bytes()  # the offline run
    assert b"config/model/latent_dim" in record and b"family:vae" in record
