"""``lgen train`` end to end as a user runs it: Hydra multiruns (-m) over every experiment config.

One subprocess per multirun (one import of lightning) instead of one per experiment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.helpers.cli import run_lgen

EXPERIMENTS = ["dae_mnist", "vae_mnist", "cvae_mnist", "ae_photo_patches"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    r = run_lgen(
        "train", "-m", f"experiment={','.join(EXPERIMENTS)}", "debug=smoke", root=root, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return root / "runs"


def _run_dir(runs: Path, experiment: str) -> Path:
    """The job folder of a multirun whose overrides chose ``experiment=<experiment>``."""
    dirs = [
        p.parent.parent
        for p in runs.glob("multirun/*/*/.hydra/overrides.yaml")
        if f"experiment={experiment}" in yaml.safe_load(p.read_text())
    ]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_run_folder_holds_config_checkpoints_metrics_and_grids(sweep, name):
    run = _run_dir(sweep, name)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["name"] == name and "${" not in (run / "config.yaml").read_text()  # resolved
    assert (run / "checkpoints" / "last.ckpt").stat().st_size > 1000
    assert (run / "checkpoints" / "best.ckpt").stat().st_size > 1000
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("val/mse", "val/psnr", "val/ssim", "test/psnr"):
        assert key in metrics[key.split("/")[0]], metrics
    assert 0 < metrics["val"]["val/psnr"] < 60 and 0 <= metrics["val"]["val/mse"] <= 1
    grid = Image.open(run / "images" / "reconstructions_epoch000.png")
    c, h = (3, 32) if name == "ae_photo_patches" else (1, 28)
    assert grid.mode == ("RGB" if c == 3 else "L") and grid.height >= 2 * h
    assert (run / "csv" / "metrics.csv").read_text().startswith("epoch") or "val/psnr" in (
        run / "csv" / "metrics.csv"
    ).read_text()


def test_sampling_families_write_sample_grids(sweep):
    for name in ("vae_mnist", "cvae_mnist"):
        assert (_run_dir(sweep, name) / "images" / "samples_epoch000.png").exists()
    assert not (
        _run_dir(sweep, "dae_mnist") / "images" / "samples_epoch000.png"
    ).exists()  # a DAE does not sample


def test_denoising_run_reports_noisy_and_denoised_psnr(sweep):
    metrics = json.loads((_run_dir(sweep, "dae_mnist") / "metrics.json").read_text())
    assert {"val/psnr_noisy", "val/psnr_denoised"} <= set(metrics["val"])


CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "experiment"
# latent diffusion needs a trained autoencoder checkpoint: smoke-trained in tests/diffusion/test_family.py;
# the VQ prior needs a VQ-VAE run: trained below on this sweep's vqvae_mnist run
OTHER_EXPERIMENTS = sorted(
    p.stem
    for p in CONFIG_DIR.glob("*.yaml")
    if p.stem not in {*EXPERIMENTS, "ldm_mnist", "vq_prior_mnist"}
)


@pytest.fixture(scope="module")
def sweep_other_families(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep_all")
    r = run_lgen(
        "train",
        "-m",
        f"experiment={','.join(OTHER_EXPERIMENTS)}",
        "debug=smoke",
        root=root,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return root / "runs"


@pytest.mark.parametrize("name", OTHER_EXPERIMENTS)
def test_every_other_experiment_trains_through_the_cli(sweep_other_families, name):
    run = _run_dir(sweep_other_families, name)
    assert (run / "checkpoints" / "last.ckpt").stat().st_size > 1000
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val/loss" in metrics["val"] and metrics["global_step"] > 0, metrics
    assert all(isinstance(v, float) for v in metrics["val"].values()), metrics  # finite numbers
    assert (
        list((run / "images").glob("*_test.png"))
        or list((run / "text").glob("samples_test.txt"))  # text models: generated text
        or name == "sr_mnist"
    )  # sr_mnist turns grids off


def test_vq_prior_trains_on_the_sweeps_vqvae_run(sweep_other_families, tmp_path):
    """The VQ prior's dependency is explicit: model.vqvae_ckpt=<VQ-VAE run>; without it, one clear error."""
    root = tmp_path
    r = run_lgen("train", "experiment=vq_prior_mnist", "debug=smoke", root=root)
    assert (
        r.returncode == 2
        and "model.vqvae_ckpt=" in r.stderr
        and "experiment=vqvae_mnist" in r.stderr
    )
    vq_run = _run_dir(sweep_other_families, "vqvae_mnist")
    metrics = json.loads((vq_run / "metrics.json").read_text())
    assert {"val/codebook_usage", "val/perplexity", "val/psnr"} <= set(metrics["val"])
    r = run_lgen(
        "train", "experiment=vq_prior_mnist", "debug=smoke", f"model.vqvae_ckpt={vq_run}", root=root
    )
    assert r.returncode == 0, r.stderr[-3000:]
    # the first (failed) command left an empty run folder: take the one with metrics
    (run,) = [
        p for p in (root / "runs" / "vq_prior_mnist").iterdir() if (p / "metrics.json").exists()
    ]
    assert "val/bits_per_token" in json.loads((run / "metrics.json").read_text())["val"]
    grid = Image.open(run / "images" / "samples_test.png")
    assert grid.mode == "L" and grid.height >= 28
