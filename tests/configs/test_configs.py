"""Every config in the tree is composed, type-checked and instantiated (no training)."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from lightning_gen.config_check import check_config
from lightning_gen.errors import ConfigError
from lightning_gen.instantiate import instantiate_group
from tests.helpers.configs import CONFIG_DIR, build_all, compose_train, options


def test_groups_are_complete():
    for group in [
        "data",
        "model",
        "callbacks",
        "logger",
        "trainer",
        "experiment",
        "debug",
        "paths",
        "hydra",
        "perf",
    ]:
        assert options(group), f"config group {group}/ is empty"
    assert {"cpu", "gpu", "ddp", "multi_node"} <= set(options("trainer"))


def test_default_config_builds_a_runnable_experiment(tmp_path):
    cfg = compose_train(tmp_path)
    dm, model, callbacks, trainer = build_all(cfg)
    assert dm.image_shape == (1, 28, 28) and dm.num_classes == 10
    assert isinstance(model, L.LightningModule) and isinstance(trainer, L.Trainer)
    assert trainer.default_root_dir == f"{tmp_path}/run"
    names = {type(c).__name__ for c in callbacks}
    assert {"ModelCheckpoint", "ReconstructionMetrics", "ImageGrids", "MetricsFile"} <= names


@pytest.fixture(scope="module")
def autoencoder_ckpt(tmp_path_factory) -> str:
    """A tiny VAE checkpoint on 28x28 digits, for configs that build on a trained autoencoder."""
    from lightning_gen.reliability.state import RunState
    from lightning_gen.vae.module import VAE

    path = tmp_path_factory.mktemp("ae") / "checkpoints" / "last.ckpt"
    model = VAE([1, 28, 28], 10, latent_dim=4, widths=[8, 16])
    trainer = L.Trainer(
        max_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[RunState()],
    )
    trainer.strategy.connect(model)
    trainer.save_checkpoint(
        path
    )  # RunState stores the model class path, as in every `lgen train` checkpoint
    return str(path)


@pytest.fixture(scope="module")
def vqvae_ckpt(tmp_path_factory) -> str:
    """A tiny VQ-VAE checkpoint on 28x28 digits, for the VQ prior's configs."""
    from lightning_gen.reliability.state import RunState
    from lightning_gen.vqvae.module import VQVAE

    path = tmp_path_factory.mktemp("vq") / "checkpoints" / "last.ckpt"
    model = VQVAE([1, 28, 28], 10, widths=[8, 16], code_dim=8, codebook_size=16)
    trainer = L.Trainer(max_steps=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, callbacks=[RunState()])  # fmt: skip
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return str(path)


def with_required_checkpoints(
    overrides: list[str], tmp_path: Path, ckpt: str, vq_ckpt: str | None = None
) -> list[str]:
    """Add ``model.autoencoder_ckpt=<ckpt>`` where the model config requires it (latent diffusion),
    and ``model.vqvae_ckpt=<vq_ckpt>`` for the VQ prior."""
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        raw = compose("train", overrides=overrides)
    if "autoencoder_ckpt" in raw.model.keys() and OmegaConf.is_missing(
        raw.model, "autoencoder_ckpt"
    ):
        return [*overrides, f"model.autoencoder_ckpt={ckpt}"]
    if "vqvae_ckpt" in raw.model.keys() and raw.model.vqvae_ckpt is None:
        return [*overrides, f"model.vqvae_ckpt={vq_ckpt}"]
    return overrides


def test_a_required_value_left_out_is_named(tmp_path):
    cfg = compose_train(tmp_path, "model=latent_diffusion")
    with pytest.raises(
        ConfigError,
        match=r"model.autoencoder_ckpt is required but missing; set model.autoencoder_ckpt=",
    ):
        check_config(cfg)


@pytest.mark.parametrize("name", options("experiment"))
def test_every_experiment_instantiates(name, tmp_path, autoencoder_ckpt, vqvae_ckpt):
    overrides = with_required_checkpoints(
        [f"experiment={name}", "debug=smoke"], tmp_path, autoencoder_ckpt, vqvae_ckpt
    )
    cfg = compose_train(tmp_path, *overrides)
    dm, model, _, _ = build_all(cfg)
    x, y = next(iter(dm.train_dataloader()))
    if hasattr(dm, "model_kwargs"):  # text: token ids below the model's vocabulary
        assert x.dtype == torch.long and 0 <= x.min() and x.max() < dm.model_kwargs()["vocab_size"]
    else:
        assert x.shape[1:] == dm.image_shape and x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("name", options("model"))
def test_every_model_config_instantiates(name, tmp_path, autoencoder_ckpt, vqvae_ckpt):
    experiments = [
        e
        for e in options("experiment")
        if f"/model: {name}\n" in (CONFIG_DIR / "experiment" / f"{e}.yaml").read_text()
    ]
    overrides = [f"experiment={experiments[0]}"] if experiments else [f"model={name}"]
    overrides = with_required_checkpoints(
        [*overrides, "debug=smoke"], tmp_path, autoencoder_ckpt, vqvae_ckpt
    )
    cfg = compose_train(tmp_path, *overrides)
    _, model, _, _ = build_all(cfg, with_trainer=False)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("name", options("data"))
def test_every_data_config_instantiates(name, tmp_path):
    cfg = compose_train(tmp_path, f"data={name}")
    check_config(cfg)
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    assert isinstance(dm, L.LightningDataModule)


@pytest.mark.parametrize("group", ["callbacks", "logger"])
def test_every_callback_and_logger_config_instantiates(group, tmp_path):
    for name in options(group):
        cfg = compose_train(tmp_path, f"{group}={name}")
        check_config(cfg)
        objs = instantiate_group(cfg[group])
        assert len(objs) == len(
            [v for v in cfg[group].values() if v is not None and "_target_" in v]
        )


@pytest.mark.parametrize("name", options("trainer"))
def test_every_trainer_config_instantiates(name, tmp_path):
    cfg = compose_train(tmp_path, f"trainer={name}")
    check_config(cfg)
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        # the real GPU config is exercised by tests marked gpu; here: same config on CPU
        cfg.trainer.accelerator, cfg.trainer.precision = "cpu", "32-true"
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False)
    assert isinstance(trainer, L.Trainer)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["gpu", "ddp"])
def test_gpu_trainer_configs(name, tmp_path):
    cfg = compose_train(tmp_path, f"trainer={name}", "trainer.devices=1")
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False)
    assert trainer.accelerator.__class__.__name__ == "CUDAAccelerator"


@pytest.mark.parametrize("group", ["debug", "paths", "hydra", "perf"])
def test_remaining_groups_compose(group, tmp_path):
    for name in options(group):
        cfg = compose_train(tmp_path, f"{group}={name}")
        assert cfg.paths.output_dir == f"{tmp_path}/run"


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if p.stem != "train")
)
def test_other_top_level_configs_compose(name):
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(name)
    assert len(cfg) > 0


@pytest.mark.parametrize(
    "override, expected",
    [
        (
            "trainer.max_epochs=abc",
            r"trainer.max_epochs='abc' is not valid: .*Trainer expects int \| None",
        ),
        ("data.batch_size=1.5", r"data.batch_size=1.5 is not valid: .*expects int"),
        ("+model.bogus=2", r"model.bogus: .*has no argument 'bogus'; valid keys: .*latent_dim"),
        (
            "trainer.precision=weird",
            r"trainer.precision='weird' is not valid: .*one of .*'bf16-mixed'",
        ),
    ],
)
def test_wrong_values_name_the_key_and_the_expected_type(override, expected, tmp_path):
    cfg = compose_train(tmp_path, override)
    with pytest.raises(ConfigError, match=expected):
        check_config(cfg)
