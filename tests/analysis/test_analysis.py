"""The autoencoder uses: compression, denoising, anomaly detection, latent pictures, ``lgen analyze``.

Most tests use tiny oracle models (exact encode/decode) on synthetic images so the numbers are
known; one module-scoped smoke training run (in-process) feeds the single ``lgen analyze``
subprocess and the LatentVisualisation callback checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from lightning_gen.analysis.anomaly import anomaly_result, auroc, reconstruction_scores
from lightning_gen.analysis.compression import bit_budget, compression_report, quantise
from lightning_gen.analysis.denoising import denoising_report
from lightning_gen.analysis.holdout import ExcludeClasses
from lightning_gen.analysis.latent import interpolate, label_silhouette, project_2d, scatter_png
from lightning_gen.data.dataset import ImageTensorDataset
from lightning_gen.errors import ConfigError


class Flatten(nn.Module):
    """Oracle autoencoder: the code is the image itself ``(B, C*H*W)``; decode reshapes it back."""

    def __init__(self, shape=(1, 8, 8)) -> None:
        super().__init__()
        self.shape = shape
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, x):
        return x.flatten(1)

    def decode(self, z):
        return z.view(-1, *self.shape).clamp(-1, 1)

    def reconstruct(self, x):
        return self.decode(self.encode(x))


class Median(Flatten):
    """Oracle denoiser: a 3x3 median filter (the classic salt-and-pepper remover)."""

    def reconstruct(self, x):
        p = (
            F.pad(x, (1, 1, 1, 1), mode="replicate").unfold(2, 3, 1).unfold(3, 3, 1)
        )  # (B,C,H,W,3,3)
        return p.flatten(-2).median(-1).values


def loader(x, y=None, bs=16):
    return [(x[i : i + bs], None if y is None else y[i : i + bs]) for i in range(0, len(x), bs)]


def blobs(n=64, size=8, seed=0):
    """Smooth synthetic images ``(n, 1, size, size)`` in [-1, 1]: a bright square on black."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, size, size)
    for i in range(n):
        r, c = torch.randint(0, size - 3, (2,), generator=g).tolist()
        x[i, :, r : r + 4, c : c + 4] = torch.rand((), generator=g) * 1.5 - 0.5
    return x


# -- compression ------------------------------------------------------------------------------
def test_bit_arithmetic_is_exact():
    b = bit_budget([1, 28, 28], latent_dim=16, bits=8)
    assert b == {
        "latent_bits": 128,
        "input_bits": 6272,
        "compression_ratio": 49.0,
        "bits_per_pixel": 128 / 784,
    }
    b = bit_budget([3, 32, 32], latent_dim=64, bits=4)
    assert b["latent_bits"] == 256 and b["input_bits"] == 24576 and b["compression_ratio"] == 96.0
    with pytest.raises(ConfigError, match="bits must be >= 1"):
        bit_budget([1, 8, 8], 4, 0)


def test_quantise_uses_at_most_2_pow_bits_levels_and_bounded_error():
    z = torch.randn(500, 3)
    lo, hi = z.min(0).values, z.max(0).values
    for bits in (1, 3, 6):
        q = quantise(z, lo, hi, bits)
        assert all(len(q[:, d].unique()) <= 2**bits for d in range(3))
        step = (hi - lo) / (2**bits - 1)
        assert ((q - z).abs() <= step / 2 + 1e-6).all()


def test_compression_psnr_grows_with_bit_depth():
    x = blobs(48)
    results = compression_report(Flatten(), loader(x), bits=[1, 2, 4, 8])
    psnrs = [r.psnr for r in results]
    assert all(a <= b for a, b in zip(psnrs, psnrs[1:], strict=False)), psnrs
    assert psnrs[-1] > psnrs[0] + 15
    assert results[0].psnr_float == float("inf")  # the oracle's float code is lossless
    assert [r.latent_bits for r in results] == [64, 128, 256, 512]
    assert results[-1].compression_ratio == 1.0 and results[0].compression_ratio == 8.0
    assert results[0].num_images == 48


# -- denoising ---------------------------------------------------------------------------------
def test_denoising_psnr_of_a_denoiser_beats_the_noisy_input():
    x = blobs(64)
    res, pic = denoising_report(
        Median(), loader(x), noise="salt_and_pepper", level=0.1, seed=1, examples=4
    )
    assert res.num_images == 64 and res.noise == "salt_and_pepper"
    assert res.psnr_denoised > res.psnr_noisy + 2, res  # measured: 13.7 -> 16.9 dB
    assert res.psnr_gain == pytest.approx(res.psnr_denoised - res.psnr_noisy)
    assert pic.shape == (12, 1, 8, 8) and torch.equal(pic[0], x[0])  # clean, noisy, denoised
    again, _ = denoising_report(Median(), loader(x), noise="salt_and_pepper", level=0.1, seed=1)
    assert again.psnr_noisy == res.psnr_noisy  # seeded noise: reproducible
    ident, _ = denoising_report(Flatten(), loader(x), noise="gaussian", level=0.3)
    assert ident.psnr_gain == pytest.approx(0.0, abs=1e-9)  # identity does not denoise


# -- anomaly -----------------------------------------------------------------------------------
def test_auroc_is_one_when_separable_and_half_when_not():
    rng = np.random.default_rng(0)
    assert (
        auroc(np.r_[rng.uniform(0, 1, 50), rng.uniform(2, 3, 30)], np.r_[np.zeros(50), np.ones(30)])
        == 1.0
    )
    same = auroc(rng.normal(size=4000), np.r_[np.zeros(2000), np.ones(2000)])
    assert abs(same - 0.5) < 0.03
    with pytest.raises(ConfigError, match="both normal and anomalous"):
        auroc(np.zeros(4), np.zeros(4))


class Blackout(Flatten):
    """Reconstructs everything as a black image: the score is how far an image is from black."""

    def reconstruct(self, x):
        return -torch.ones_like(x)


def test_reconstruction_scores_separate_anomalies():
    normal = -torch.ones(20, 1, 8, 8) + 0.01 * torch.rand(20, 1, 8, 8)
    weird = blobs(10)
    s_norm, _ = reconstruction_scores(Blackout(), loader(normal), "mse")
    s_weird, _ = reconstruction_scores(Blackout(), loader(weird), "mse")
    assert s_norm.shape == (20,) and s_weird.shape == (10,)
    torch.testing.assert_close(torch.as_tensor(s_weird), (weird + 1).pow(2).flatten(1).mean(1))
    r = anomaly_result(s_norm, s_weird)
    assert r.auroc == 1.0 and r.num_normal == 20 and r.num_anomalous == 10
    assert r.mean_score_anomalous > r.mean_score_normal


def test_conditional_models_are_scored_without_their_label():
    from lightning_gen.vae.module import VAE

    cvae = VAE([1, 8, 8], num_classes=3, latent_dim=4, widths=[8], conditional=True).eval()
    x, y = blobs(6), torch.tensor([0, 1, 2, 0, 1, 2])
    scores, labels = reconstruction_scores(cvae, loader(x, y, bs=4), "mse", num_classes=3)
    with torch.no_grad():
        per_class = [
            (cvae.reconstruct(x, condition=torch.full((6,), k)) - x).pow(2).flatten(1).mean(1)
            for k in range(3)
        ]
    torch.testing.assert_close(torch.as_tensor(scores), torch.stack(per_class).min(0).values)
    assert labels.tolist() == y.tolist()


class ToySource:
    def load(self):
        return ImageTensorDataset(
            torch.arange(30, dtype=torch.uint8).view(30, 1, 1, 1).expand(30, 1, 4, 4).contiguous(),
            torch.arange(30) % 3,
            ["a", "b", "c"],
        )


def test_exclude_classes_holds_a_class_out_of_the_datamodule():
    from lightning_gen.data import ImageDataModule

    src = ExcludeClasses(ToySource(), exclude=[1])
    kept, held = src.load(), src.load_excluded()
    assert len(kept) == 20 and len(held) == 10 and kept.num_classes == 3
    assert set(kept.labels.tolist()) == {0, 2} and set(held.labels.tolist()) == {1}
    assert all(held[i][1] == 1 for i in range(len(held)))
    dm = ImageDataModule(src, batch_size=4, val_fraction=0.2, test_fraction=0.2)
    counts = dm.label_counts("train")
    assert counts[1] == 0 and counts.sum() == 12 and dm.num_classes == 3
    with pytest.raises(ConfigError, match="not in 0..2"):
        ExcludeClasses(ToySource(), exclude=[7]).load()


# -- latent pictures ---------------------------------------------------------------------------
TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44)]


def test_projection_png_has_the_size_and_one_colour_per_class(tmp_path):
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(c, 0.1, (40, 6)) for c in (0.0, 3.0, -3.0)])
    labels = np.repeat([0, 1, 2], 40)
    pts = project_2d(z, "pca")
    assert pts.shape == (120, 2)
    centers = np.stack([pts[labels == k].mean(0) for k in range(3)])
    assert np.linalg.norm(centers[0] - centers[1]) > 1.0  # clusters stay apart
    assert label_silhouette(z, labels) > 0.8 and label_silhouette(z, None) is None
    assert label_silhouette(rng.normal(size=(200, 6)), np.arange(200) % 2) < 0.05
    path = scatter_png(pts, labels, tmp_path / "latents.png", size=(400, 300))
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (300, 400, 3)
    for colour in TAB10:
        assert (img == colour).all(-1).sum() > 50, colour
    with pytest.raises(ConfigError, match="choose one of"):
        project_2d(z, "umap")


def test_tsne_projection_runs_on_few_points():
    pts = project_2d(np.random.default_rng(0).normal(size=(12, 5)), "tsne")
    assert pts.shape == (12, 2) and np.isfinite(pts).all()


def test_interpolation_endpoints_are_the_decoded_endpoints():
    from lightning_gen.autoencoder.module import Autoencoder
    from lightning_gen.vae.module import VAE

    x = blobs(4, size=16)
    ae = Autoencoder([1, 16, 16], latent_dim=4, widths=[8, 16]).eval()
    grid = interpolate(ae, x[:2], x[2:], steps=5)
    assert grid.shape == (10, 1, 16, 16)
    rows = grid.view(2, 5, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(rows[:, 0], ae.decode(ae.encode(x[:2])))
        torch.testing.assert_close(rows[:, -1], ae.decode(ae.encode(x[2:])))
    assert not torch.allclose(rows[:, 2], rows[:, 0])
    cvae = VAE([1, 16, 16], num_classes=3, latent_dim=4, widths=[8, 16], conditional=True).eval()
    ya, yb = torch.tensor([0, 1]), torch.tensor([2, 2])
    grid = interpolate(cvae, x[:2], x[2:], 3, ya, yb).view(2, 3, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(grid[:, -1], cvae.reconstruct(x[2:], condition=yb))
    with pytest.raises(ConfigError, match="steps must be >= 2"):
        interpolate(ae, x[:1], x[1:2], steps=1)


# -- a smoke run, its LatentVisualisation pictures, and `lgen analyze` on it --------------------
@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """One in-process ``lgen train debug=smoke experiment=anomaly_mnist callbacks=latent`` on 16x16 digits."""
    from hydra import compose, initialize_config_module

    from lightning_gen.commands.train import train

    out = tmp_path_factory.mktemp("run")
    overrides = [
        "debug=smoke",
        "experiment=anomaly_mnist",
        "callbacks=latent",
        "data.source.exclude=[3]",
        "data.source.source._target_=lightning_gen.data.bundled.SklearnDigits",
        "data.source.source.image_size=16",
        f"paths.output_dir={out}",
        "logger=csv",
    ]
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    train(cfg)
    return out


def test_latent_callback_writes_pictures(smoke_run):
    images = smoke_run / "images"
    for name in ("latents_epoch000.png", "latents_test.png", "interpolation_test.png"):
        assert (images / name).is_file(), sorted(p.name for p in images.iterdir())
    assert Image.open(images / "latents_test.png").size == (640, 640)
    w, h = Image.open(images / "interpolation_test.png").size  # 6 pairs x 8 steps of 16px, pad 2
    assert (w, h) == (8 * 18 + 2, 6 * 18 + 2)


def test_lgen_analyze_on_a_smoke_checkpoint(smoke_run, tmp_path):
    out = tmp_path / "analysis"
    env = {**os.environ, "LGEN_ROOT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "lightning_gen.commands.cli",
        "analyze",
        f"ckpt={smoke_run}",
        f"hydra.run.dir={out}",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads((out / "analysis.json").read_text())
    assert rec["model"] == "lightning_gen.autoencoder.module.Autoencoder"
    c8 = rec["compression"]["8bit"]
    assert (
        c8["latent_bits"] == 16 * 8
        and c8["input_bits"] == 16 * 16 * 8
        and c8["compression_ratio"] == 16.0
    )
    assert rec["compression"]["2bit"]["psnr"] <= c8["psnr"] + 0.05
    d = rec["denoising"]
    assert d["num_images"] == c8["num_images"] > 0 and d["psnr_noisy"] > 0
    a = rec["anomaly"]
    assert 0.0 <= a["auroc"] <= 1.0 and a["num_anomalous"] > 100 and "[3]" in a["anomalies"]
    scores = np.load(out / "anomaly_scores.npz")
    assert (
        len(scores["normal"]) == a["num_normal"] and len(scores["anomalous"]) == a["num_anomalous"]
    )
    for png in ("latents_pca.png", "interpolation.png", "denoising.png"):
        assert Image.open(out / png).size[0] > 0


def test_analyze_skips_a_task_that_does_not_apply_unless_strict(smoke_run, tmp_path):
    from hydra import compose, initialize_config_module

    from lightning_gen.commands.analyze import analyze

    args = [f"ckpt={smoke_run}", "data=digits", "data.source.image_size=16", "tasks=[anomaly]"]
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose("analyze", overrides=[*args, f"paths.output_dir={tmp_path}"])
        strict = compose(
            "analyze", overrides=[*args, "strict=true", f"paths.output_dir={tmp_path}"]
        )
    rec = analyze(cfg)  # digits data has no held-out classes: nothing to call an anomaly
    assert "no anomalies to score" in rec["anomaly"]["skipped"]
    assert json.loads((tmp_path / "analysis.json").read_text())["anomaly"] == rec["anomaly"]
    with pytest.raises(ConfigError, match="anomaly.classes"):
        analyze(strict)
    strict.tasks = ["compression", "telepathy"]
    with pytest.raises(ConfigError, match="unknown; choose from"):
        analyze(strict)


def test_analyze_names_bad_checkpoints_and_tasks(tmp_path):
    from lightning_gen.commands.analyze import resolve_checkpoint
    from lightning_gen.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no such file"):
        resolve_checkpoint(str(tmp_path / "nope.ckpt"))
    with pytest.raises(CheckpointError, match="no checkpoints/last.ckpt"):
        resolve_checkpoint(str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resolve_checkpoint(str(tmp_path)).name == "last.ckpt"


@pytest.mark.slow
def test_a_briefly_trained_dae_denoises():
    """A DAE trained for 150 steps on 16x16 digits beats the salt-and-pepper input PSNR."""
    from lightning_gen.autoencoder.module import Autoencoder
    from lightning_gen.data.bundled import SklearnDigits

    ds = SklearnDigits(image_size=16).load()
    x = torch.stack([ds[i][0] for i in range(len(ds))])  # (1797, 1, 16, 16)
    train, test = x[:1500], x[1500:]
    torch.manual_seed(0)
    dae = Autoencoder(
        [1, 16, 16], latent_dim=32, widths=[16, 32], noise="salt_and_pepper", noise_level=0.2
    )
    opt = torch.optim.Adam(dae.parameters(), lr=3e-3)
    for _ in range(150):
        xb = train[torch.randint(0, len(train), (64,))]
        loss = dae.loss_fn(dae.reconstruct(dae.corrupt(xb)), xb).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    res, _ = denoising_report(dae.eval(), loader(test, bs=64), noise="salt_and_pepper", level=0.2)
    assert res.psnr_denoised > res.psnr_noisy + 2, res
