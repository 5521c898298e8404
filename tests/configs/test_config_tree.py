"""The config tree cannot drop things silently (issue 9.4/9.5): EMA survives any callbacks choice,
an entry without ``_target_`` is an error naming it, list values are type-checked item by item,
experiments only override keys that exist, trainer limits need no ``+``, analysis options are
typed, and users keep their own experiments in their own folder (``--config-dir``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from lightning_gen.config_check import check_config
from lightning_gen.errors import ConfigError
from lightning_gen.instantiate import instantiate_group
from tests.helpers.configs import CONFIG_DIR, build_all, compose_train, options


def test_adding_generation_metrics_keeps_ema(tmp_path):
    """The form README shows: an EMA experiment plus callbacks=generation keeps the EMA."""
    cfg = compose_train(tmp_path, "experiment=ddpm_mnist", "callbacks=generation", "debug=smoke")
    check_config(cfg)
    names = [type(c).__name__ for c in instantiate_group(cfg.callbacks)]
    assert "WarmupEMAWeightAveraging" in names and "GenerationMetrics" in names
    # averaging, then the stop, last
    assert names[-2:] == ["WarmupEMAWeightAveraging", "GracefulStop"]
    assert cfg.callbacks.ema.decay == 0.995


@pytest.mark.parametrize("callbacks", options("callbacks"))
def test_ema_is_an_option_of_its_own_for_every_callbacks_choice(callbacks, tmp_path):
    on = compose_train(tmp_path, f"callbacks={callbacks}", "ema=default")
    off = compose_train(tmp_path, f"callbacks={callbacks}")
    assert on.callbacks.ema._target_.endswith("EMAWeightAveraging") and off.callbacks.ema is None
    assert set(on.callbacks) == set(off.callbacks)


def test_a_callback_or_logger_entry_without_target_is_an_error_naming_it(tmp_path):
    # the experiment's image_grids settings meet callbacks=none, which has no image_grids
    cfg = compose_train(tmp_path, "experiment=ddpm_mnist", "callbacks=none")
    with pytest.raises(
        ConfigError, match=r"callbacks\.image_grids has no _target_ .*every_n_epochs"
    ):
        check_config(cfg)
    with pytest.raises(ConfigError, match=r"callbacks\.image_grids has no _target_"):
        instantiate_group(cfg.callbacks)
    cfg = compose_train(tmp_path, "+logger.extra.save_dir=x")
    with pytest.raises(ConfigError, match=r"logger\.extra has no _target_"):
        instantiate_group(cfg.logger, "logger")
    # null drops an entry on purpose
    cfg = compose_train(tmp_path, "callbacks.image_grids=null")
    check_config(cfg)
    assert "ImageGrids" not in {type(c).__name__ for c in instantiate_group(cfg.callbacks)}


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model.widths=[32,abc]", r"model\.widths\[1\]='abc' is not valid: .*expects list\[int\]"),
        ("model.widths=8", r"model\.widths=8 is not valid: .*expects list\[int\]"),
        ("model.widths=[32,1.5]", r"model\.widths\[1\]=1\.5 is not valid"),
        (
            "trainer.limit_train_batches=[1]",
            r"trainer\.limit_train_batches=\[1\] is not valid: .*expects float \| int \| None",
        ),
    ],
)
def test_list_values_are_checked_item_by_item_naming_the_key(override, expected, tmp_path):
    cfg = compose_train(tmp_path, override)
    with pytest.raises(ConfigError, match=expected):
        check_config(cfg)


def test_nested_values_under_a_target_are_checked(tmp_path):
    cfg = compose_train(tmp_path, "data=folder", "data.source.root=x", "data.source.image_size=big")
    with pytest.raises(ConfigError, match=r"data\.source\.image_size='big' is not valid"):
        check_config(cfg)


def test_good_list_values_pass(tmp_path):
    check_config(compose_train(tmp_path, "model.widths=[8,16]", "model=vae"))


def test_trainer_limits_need_no_plus(tmp_path):
    cfg = compose_train(
        tmp_path,
        "trainer.max_steps=1500",
        "trainer.max_time=00:01:00:00",
        "trainer.limit_train_batches=0.5",
        "trainer.limit_val_batches=3",
        "trainer.val_check_interval=100",
    )
    check_config(cfg)
    _, _, _, trainer = build_all(cfg)
    assert trainer.max_steps == 1500 and trainer.limit_train_batches == 0.5
    assert trainer.limit_val_batches == 3 and trainer.val_check_interval == 100
    assert trainer.fit_loop.max_steps == 1500


def _leaves(node: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in node.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        out += _leaves(v, path) if isinstance(v, dict) and v else [path]
    return out


@pytest.mark.parametrize("name", options("experiment"))
def test_experiments_only_override_keys_that_exist(name, tmp_path):
    """An experiment chooses options and overrides their values; it never adds or replaces nodes
    (which would hide what it changes and bypass the options' own settings)."""
    body = yaml.safe_load((CONFIG_DIR / "experiment" / f"{name}.yaml").read_text())
    choices = []
    for entry in body.pop("defaults", []):
        (group, choice), *_ = entry.items()
        assert group.startswith("override /"), f"{name}: defaults entry {entry} is not an override"
        choices.append(f"{group.removeprefix('override /')}={choice}")
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        base = compose("train", overrides=choices)
    body.pop("name", None)
    for key in _leaves(body):
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent) if parent else base
        assert node is not None and leaf in node, (
            f"experiment {name} sets {key}, which its options do not have"
        )


def test_analyze_options_are_typed_with_defaults_in_one_place():
    from lightning_gen.analysis.options import AnalyzeOptions, DenoisingOptions

    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose("analyze", overrides=["ckpt=x"])
        assert cfg.denoising.level == DenoisingOptions().level
        assert cfg.tasks == AnalyzeOptions().tasks
        with pytest.raises(ConfigCompositionException, match="denoising.level=abc"):
            compose("analyze", overrides=["ckpt=x", "denoising.level=abc"])
        with pytest.raises(ConfigCompositionException, match="latent.bogus"):
            compose("analyze", overrides=["ckpt=x", "latent.bogus=1"])
    text = (CONFIG_DIR / "analyze.yaml").read_text()
    assert "level:" not in text and "bits:" not in text  # the defaults live in options.py only


def readme_user_experiment() -> str:
    """The user experiment file of the README's ``--config-dir`` example, verbatim."""
    readme = (CONFIG_DIR.parent / "README.md").read_text()
    found = re.search(
        r"cat > my_configs/experiment/my_vae.yaml <<'YAML'\n(.*?\n)YAML\n", readme, re.S
    )
    assert found and "lgen train --config-dir my_configs experiment=my_vae" in readme
    return found.group(1)


def test_user_experiment_from_own_folder_with_config_dir(tmp_path):
    """README: ``lgen train --config-dir my_configs experiment=my_vae`` next to the shipped configs."""
    (tmp_path / "my_configs" / "experiment").mkdir(parents=True)
    (tmp_path / "my_configs" / "experiment" / "my_vae.yaml").write_text(readme_user_experiment())
    env = {**os.environ, "LGEN_ROOT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "lightning_gen.commands.cli", "train"]
    args = ["--config-dir", str(tmp_path / "my_configs"), "experiment=my_vae", "--cfg", "job"]
    proc = subprocess.run(
        [*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["name"] == "my_vae" and cfg["model"]["latent_dim"] == 3
    assert cfg["model"]["_target_"].endswith("VAE") and "SklearnDigits" in str(cfg["data"])
    assert cfg["callbacks"]["ema"] is None and cfg["trainer"]["max_epochs"] == 10  # shipped parts
