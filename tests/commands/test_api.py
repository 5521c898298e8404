"""The notebook/scripting API (``lightning_gen.commands.api``): the CLI's commands in-process and
readers of a run folder; and library pictures that leave the caller's matplotlib backend alone."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_gen.commands import api
from lightning_gen.errors import ConfigError


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """``lgen train debug=smoke model.latent_dim=4`` through ``api.train`` (a few seconds)."""
    out = tmp_path_factory.mktemp("api") / "run"
    return api.train(["debug=smoke", "model.latent_dim=4", "logger=csv"], out=out)


def test_train_returns_the_run_folder_and_readers_read_it(smoke_run):
    assert (smoke_run / "config.yaml").is_file()
    assert (smoke_run / "checkpoints" / "last.ckpt").is_file()
    m = api.metrics(smoke_run)
    assert m["global_step"] == 3 and m["epoch"] == 1
    assert {"train/loss", "val/loss", "test/psnr"} <= set(m)
    assert all(isinstance(v, float) for v in m.values())
    steps, losses = api.curve(smoke_run, "train/loss")
    assert steps == [0.0, 1.0, 2.0] and len(losses) == 3
    epochs, _ = api.curve(smoke_run, "val/loss", x="epoch")
    assert epochs == [0.0]


def test_load_and_datamodule_give_the_trained_model_and_its_data(smoke_run):
    model = api.load(smoke_run)
    assert type(model).__name__ == "Autoencoder" and model.hparams.latent_dim == 4
    assert not model.training
    dm = api.datamodule(smoke_run, stage="test")
    x, _ = next(iter(dm.split_dataloader("test")))
    assert model.reconstruct(x[:2]).shape == (2, 1, 28, 28)
    assert len(dm.splits["train"]) + len(dm.splits["val"]) + len(dm.splits["test"]) == 256


def test_run_analyze_in_process(smoke_run):
    record = api.run("analyze", [f"ckpt={smoke_run}", "tasks=[compression]"], out=smoke_run / "a")
    assert record["compression"]["8bit"]["latent_bits"] == 4 * 8
    assert (smoke_run / "a" / "analysis.json").is_file()


def test_compose_config_is_what_the_cli_composes(tmp_path):
    cfg = api.compose_config("train", ["model=vae"], out=tmp_path)
    assert cfg.model._target_ == "lightning_gen.vae.module.VAE"
    assert cfg.name == "vae_mnist"  # ${hydra:runtime.choices...} resolved as in a real run
    assert cfg.paths.output_dir == str(tmp_path)
    assert api.compose_config("sample", ["ckpt=x"]).out_dir is None


def test_bad_requests_name_the_fix(smoke_run, tmp_path):
    with pytest.raises(ConfigError, match="unknown command 'trian'.*train"):
        api.run("trian")
    with pytest.raises(ConfigError, match="'val/fid' was not logged.*train/loss"):
        api.curve(smoke_run, "val/fid")
    with pytest.raises(ConfigError, match="metrics.json: no such file"):
        api.metrics(tmp_path)


def test_scatter_png_leaves_the_matplotlib_backend_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from lightning_gen.analysis.latent import scatter_png

    before = matplotlib.get_backend()
    try:
        plt.switch_backend("svg")  # stands in for a notebook's inline backend
        path = scatter_png(np.random.rand(20, 2), np.arange(20) % 3, tmp_path / "s.png")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == []
        from PIL import Image

        assert Image.open(path).size == (640, 640)
    finally:
        plt.switch_backend(before)
