"""Out-of-range model hyper-parameters fail in the family's __init__ with the key, the valid range and
the fix (issue 14.3); every numeric key of every model config has a rule."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from lightning_gen.cli_errors import user_errors
from lightning_gen.errors import ConfigError
from lightning_gen.validate import RULES, check_model_args

MODEL_CONFIGS = sorted((Path(__file__).parents[1] / "configs" / "model").glob("*.yaml"))


def numeric_keys(node) -> dict[str, object]:
    """Top-level keys whose value is a number or a list of numbers (bools excluded)."""

    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    out = {}
    for key, value in node.items():
        if is_num(value) or (isinstance(value, list) and value and all(is_num(v) for v in value)):
            out[key] = value
    return out


def model_node(path: Path):
    raw = OmegaConf.to_container(OmegaConf.load(path))
    base = {}
    for parent in raw.pop("defaults", []):
        if isinstance(parent, dict):  # a group default such as {/sampler@sampler: ddim}: a nested
            ((group_at, option),) = parent.items()  # node whose own class checks its values
            group, _, key = group_at.lstrip("/").partition("@")
            configs = path.parents[1]
            base[key or group] = OmegaConf.to_container(
                OmegaConf.load(configs / group / f"{option}.yaml")
            )
        elif parent != "_self_":
            base.update(model_node(path.parent / f"{parent}.yaml"))
    return {**base, **raw}


@pytest.mark.parametrize("path", MODEL_CONFIGS, ids=lambda p: p.stem)
def test_every_numeric_model_key_has_a_rule_its_default_passes(path):
    node = model_node(path)
    keys = numeric_keys(node)
    assert keys, path
    missing = sorted(set(keys) - set(RULES))
    assert not missing, f"{path.name}: add a rule to lightning_gen/validate.py RULES for {missing}"
    check_model_args(keys)  # the shipped defaults are valid


def data_kwargs(node) -> dict:
    """What ``lgen train`` passes from the data, for families that take it (text models do not)."""
    import inspect

    params = inspect.signature(hydra.utils.get_class(node["_target_"])).parameters
    return {k: v for k, v in {"image_shape": [1, 8, 8], "num_classes": 10}.items() if k in params}


@pytest.mark.parametrize("path", MODEL_CONFIGS, ids=lambda p: p.stem)
def test_family_init_refuses_each_out_of_range_value_naming_the_key(path):
    """Every rule is enforced by the family itself (not only by this module): each bad value is
    refused before any network is built."""
    node = model_node(path)
    node["autoencoder_ckpt"] = node.get("autoencoder_ckpt") and "never-loaded.ckpt"
    if node.get("autoencoder_ckpt") is None:
        node.pop("autoencoder_ckpt")
    for key in numeric_keys(node):
        bad = {**node, key: RULES[key].bad}
        with pytest.raises(Exception) as err:
            hydra.utils.instantiate(bad, **data_kwargs(node))
        cause = err.value
        while not isinstance(cause, ConfigError) and cause.__cause__ is not None:
            cause = cause.__cause__
        assert isinstance(cause, ConfigError), (key, err.value)
        assert f"model.{key}=" in str(cause) and "is not valid: must be" in str(cause), str(cause)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"latent_dim": -4}, "model.latent_dim=-4 is not valid: must be >= 1"),
        ({"widths": [32, 0]}, r"model.widths=\[32, 0\] is not valid: must be a non-empty list"),
        ({"widths": (32,) * 0}, r"model.widths=\[\] is not valid"),
        ({"noise_level": 1.5}, r"model.noise_level=1.5 is not valid: must be in \[0, 1\]"),
        ({"label_dropout": -0.1}, r"must be in \[0, 1\]"),
        ({"dropout": 1.0}, r"must be in \[0, 1\)"),
        ({"lr": 0.0}, "model.lr=0.0 is not valid: must be > 0"),
        ({"lr": float("nan")}, "model.lr=nan is not valid"),
        ({"latent_dim": 2.5}, "must be >= 1 \\(an integer\\)"),
        ({"betas": [0.9]}, "two numbers in"),
        ({"image_shape": (1, 0, 8)}, r"model.image_shape=\[1, 0, 8\]"),
    ],
)
def test_rule_messages(args, message):
    with pytest.raises(ConfigError, match=message):
        check_model_args(args)


def test_unset_and_unknown_keys_pass():
    check_model_args({"self": object(), "latent_scale": None, "loss": "mse", "__class__": int})


def test_cli_prints_one_line_not_a_traceback(capsys):
    node = {**model_node(MODEL_CONFIGS[0]), "latent_dim": -4}
    with pytest.raises(SystemExit) as exit_info, user_errors():
        hydra.utils.instantiate(node, image_shape=[1, 8, 8])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.strip().splitlines() == [
        "error: model.latent_dim=-4 is not valid: must be >= 1 (an integer); "
        "set model.latent_dim=<value> (see configs/model/)"
    ]
