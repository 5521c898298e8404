"""Commands given input they cannot use: one line naming the problem and the fix, nothing written
(issue 14.3 capabilities, issue 15 extras)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.gan.module import GAN
from lightning_gen.vae.module import VAE


def tiny_vae(**kw) -> VAE:
    return VAE(image_shape=(1, 8, 8), widths=[8], latent_dim=2, **kw)


def fake_checkpoint(monkeypatch, module, model, tmp_path: Path) -> Path:
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"unused")
    monkeypatch.setattr(module, "resolve_checkpoint", lambda *a, **k: ckpt)
    target = module.checkpoints if hasattr(module, "checkpoints") else module
    monkeypatch.setattr(target, "load_model", lambda *a, **k: model)
    return ckpt


def sample_cfg(tmp_path, **kw):
    base = OmegaConf.load(Path(__file__).parents[2] / "configs" / "sample.yaml")
    base.pop("defaults")
    base.pop("hydra", None)
    return OmegaConf.merge(base, {"ckpt": str(tmp_path / "run"), "n": 4, **kw})


def test_label_on_an_unconditional_model_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    import lightning_gen.commands.sample as sample_cmd

    fake_checkpoint(monkeypatch, sample_cmd, tiny_vae(), tmp_path)
    with pytest.raises(ConfigError, match=r"label=7: VAE is not class-conditional.*drop label="):
        sample_cmd.sample(sample_cfg(tmp_path, label=7))
    assert not list((tmp_path / "run").rglob("*.npz"))
    # a conditional model takes its classes only
    cvae = tiny_vae(conditional=True, num_classes=10)
    with pytest.raises(ConfigError, match=r"label=12 is not valid: must be an integer in \[0, 9\]"):
        sample_cmd.check_label(cvae, 12)
    sample_cmd.check_label(cvae, 7)
    # the contract, not hyper-parameters: any object that says how many classes it takes
    class_model = type("Labelled", (), {"condition_classes": 3, "sample": lambda self, n: None})()
    sample_cmd.check_label(class_model, 2)
    with pytest.raises(ConfigError, match=r"label=3 is not valid: must be an integer in \[0, 2\]"):
        sample_cmd.check_label(class_model, 3)


def test_unconditional_sample_still_writes_its_npz(tmp_path, monkeypatch):
    import lightning_gen.commands.sample as sample_cmd

    fake_checkpoint(monkeypatch, sample_cmd, tiny_vae(), tmp_path)
    result = sample_cmd.sample(sample_cfg(tmp_path))
    assert set(np.load(result["npz"]).keys()) == {"images"}


def test_read_only_sample_folder_is_one_clear_error(tmp_path, monkeypatch):
    import lightning_gen.commands.sample as sample_cmd

    fake_checkpoint(monkeypatch, sample_cmd, tiny_vae(), tmp_path)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"output folder .*file/out is not writable"):
        sample_cmd.sample(sample_cfg(tmp_path, out_dir=str(tmp_path / "file" / "out")))


@pytest.mark.parametrize("how", ["env", "override"])
def test_unwritable_lgen_root_is_one_line_not_a_hydra_traceback(tmp_path, monkeypatch, capsys, how):
    from lightning_gen.commands.cli import main

    (tmp_path / "file").write_text("not a folder")
    root = tmp_path / "file" / "root"
    args = ["evaluate", "images=x.npz"]
    if how == "env":
        monkeypatch.setenv("LGEN_ROOT", str(root))
    else:
        args.append(f"paths.root_dir={root}")
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert (
        err[0].startswith(f"error: output folder {root} is not writable") and "LGEN_ROOT" in err[0]
    )


def test_analyze_on_a_gan_names_the_missing_capability(tmp_path, monkeypatch):
    import lightning_gen.commands.analyze as analyze_cmd

    fake_checkpoint(
        monkeypatch, analyze_cmd, GAN(image_shape=(1, 8, 8), g_widths=[8], d_widths=[8]), tmp_path
    )
    monkeypatch.setattr(analyze_cmd.checkpoints, "run_config", lambda *a: None)
    cfg = OmegaConf.create(
        {"tasks": ["compression", "latent"], "seed": 0, "ckpt": "x", "device": "cpu"}
    )
    with pytest.raises(
        CheckpointError,
        match=r"need a model that implements CanEncode and CanReconstruct.*holds a GAN.*lgen evaluate",
    ):
        analyze_cmd.analyze(cfg)


def test_evaluate_on_a_model_that_cannot_sample(monkeypatch):
    import lightning_gen.commands.evaluate as evaluate_cmd
    from lightning_gen.autoencoder.module import Autoencoder

    ae = Autoencoder(image_shape=(1, 8, 8), widths=[8], latent_dim=2)
    monkeypatch.setattr(evaluate_cmd, "load_model", lambda *a, **k: ae)
    with pytest.raises(CheckpointError, match="Autoencoder does not implement sample"):
        evaluate_cmd.load_generator("run")


def test_low_accuracy_feature_classifier_warns():
    from lightning_gen.metrics.classifier import (
        LOW_ACCURACY,
        ClassifierExtractor,
        LowAccuracyWarning,
        SmallCNN,
    )

    net = SmallCNN(1, 10, [8])
    assert LOW_ACCURACY == 0.5
    with pytest.warns(LowAccuracyWarning, match=r"only 19% validation accuracy \(< 50%\).*epochs"):
        ClassifierExtractor(net, 0.19, {"dataset": "digits"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", LowAccuracyWarning)
        ClassifierExtractor(net, 0.9, {"dataset": "digits"})
