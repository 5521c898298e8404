"""Tampered checkpoint metadata (issue 14.3): whatever the ``lgen`` record, hyper-parameters or
state dict say, ``load_model`` loads a model or raises a ``CheckpointError``/``ConfigError`` naming
the file and the fix (printed as one ``error:`` line by the CLI), never another exception."""

from __future__ import annotations

import lightning
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_gen.checkpoints import load_model
from lightning_gen.errors import CheckpointError, LgenError
from lightning_gen.vae.module import VAE

CLASSES = [
    "lightning_gen.vae.module.VAE",
    "lightning_gen.gan.module.GAN",
    "lightning_gen.autoencoder.module.Autoencoder",
    "builtins.dict",
    "os.system",
    "no.such.Module",
    "",
    "VAE",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 64),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(max_size=5),
    st.lists(st.integers(-2, 16), max_size=3),
)


def good_checkpoint() -> dict:
    m = VAE(image_shape=(1, 8, 8), widths=[8], latent_dim=2)
    return {
        "state_dict": m.state_dict(),
        "hyper_parameters": dict(m.hparams),
        "pytorch-lightning_version": lightning.__version__,
        "lgen": {"model_class": "lightning_gen.vae.module.VAE"},
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lgen=st.one_of(
        st.fixed_dictionaries({"model_class": st.one_of(st.sampled_from(CLASSES), VALUES)}),
        VALUES,
    ),
    key=st.sampled_from(
        ["latent_dim", "widths", "beta", "lr", "image_shape", "loss", "conditional"]
    ),
    value=VALUES,
    drop_weight=st.booleans(),
)
def test_tampered_metadata_loads_or_is_a_user_error(tmp_path, lgen, key, value, drop_weight):
    ck = good_checkpoint()
    ck["lgen"] = lgen
    ck["hyper_parameters"][key] = value
    if drop_weight:
        ck["state_dict"].pop(next(iter(ck["state_dict"])))
    path = tmp_path / "t.ckpt"
    torch.save(ck, path)
    try:
        model = load_model(path)
    except LgenError as exc:
        assert str(path) in str(exc) or "model." in str(exc)
        return
    assert isinstance(model, lightning.LightningModule)


@pytest.mark.parametrize(
    ("lgen", "message"),
    [
        (7, r"'lgen' metadata is damaged \(int"),
        ({"model_class": 42}, "recorded model class 42 is not a class path"),
        ({"model_class": "builtins.dict"}, "builtins.dict is not a LightningModule.*model_target="),
        ({"model_class": "no.such.Module"}, "no.such.Module cannot be imported"),
    ],
)
def test_damaged_class_records_name_the_fix(tmp_path, lgen, message):
    ck = good_checkpoint()
    ck["lgen"] = lgen
    torch.save(ck, tmp_path / "t.ckpt")
    with pytest.raises(CheckpointError, match=message):
        load_model(tmp_path / "t.ckpt")


def test_out_of_range_hyper_parameter_in_a_checkpoint_names_the_key(tmp_path):
    ck = good_checkpoint()
    ck["hyper_parameters"]["latent_dim"] = -4
    torch.save(ck, tmp_path / "t.ckpt")
    with pytest.raises(CheckpointError, match=r"t.ckpt.*model.latent_dim=-4 is not valid"):
        load_model(tmp_path / "t.ckpt")
