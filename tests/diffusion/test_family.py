"""Diffusion family: shared contract, guidance/inpainting through the model, latent diffusion checkpoints,
smoke training through the ``lgen train`` code path and ``lgen sample``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict
from PIL import Image

from lightning_gen.autoencoder.module import Autoencoder
from lightning_gen.checkpoints import load_model
from lightning_gen.commands.sample import sample
from lightning_gen.commands.train import train
from lightning_gen.contracts import CanInpaint, CanSuperResolve, resolve_sampling
from lightning_gen.diffusion.latent import LatentDiffusion, load_autoencoder
from lightning_gen.diffusion.module import DiffusionModel
from lightning_gen.diffusion.samplers import DDIM, DDPM
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.networks.unet import UNet
from tests.helpers.family_contract import check_family

SHAPE = [1, 28, 28]
TINY = dict(timesteps=20, widths=[8, 16], sampler=DDIM(steps=4), lr=2e-3)


def save_run(model: L.LightningModule, folder: Path, x: torch.Tensor) -> Path:
    """A run folder like ``lgen train`` writes: ``config.yaml`` (model._target_) + ``checkpoints/last.ckpt``."""
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
    )
    trainer.fit(
        model,
        torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, torch.zeros(len(x))),
            batch_size=8,
            collate_fn=lambda b: (torch.stack([i for i, _ in b]), None),
        ),
    )
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    target = f"{type(model).__module__}.{type(model).__qualname__}"
    OmegaConf.save({"model": {"_target_": target}}, folder / "config.yaml")
    trainer.save_checkpoint(folder / "checkpoints" / "last.ckpt")
    return folder / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def mnist16() -> tuple[torch.Tensor, torch.Tensor]:
    """16 real MNIST digits ``(16, 1, 28, 28)`` in ``[-1, 1]`` and labels, loaded once for this module."""
    from lightning_gen.data.bundled import MNISTBundled

    ds = MNISTBundled().load()
    return torch.stack([ds[i][0] for i in range(16)]), ds.labels[:16].clone()


@pytest.fixture(scope="module")
def ae_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    x = torch.rand(16, *SHAPE) * 2 - 1
    return save_run(
        Autoencoder(SHAPE, 10, latent_dim=8, widths=[8, 16]), tmp_path_factory.mktemp("ae_run"), x
    )


@pytest.mark.parametrize("kind", ["ddpm", "cddpm", "ldm"])
def test_family_contract(kind, mnist16, ae_ckpt, tmp_path):
    x, y = mnist16
    makers = {
        "ddpm": lambda: DiffusionModel(SHAPE, 10, **TINY),
        "cddpm": lambda: DiffusionModel(SHAPE, 10, conditional=True, guidance_scale=2.0, **TINY),
        "ldm": lambda: LatentDiffusion(
            SHAPE,
            10,
            autoencoder_ckpt=str(ae_ckpt),
            hidden=32,
            depth=1,
            timesteps=20,
            sampler=DDIM(steps=4),
        ),
    }
    check_family(makers[kind], x[:16], y[:16] if kind == "cddpm" else None, tmp_path, steps=25)


def test_guidance_zero_and_one_through_the_model():
    torch.manual_seed(0)
    m = DiffusionModel(SHAPE, 10, conditional=True, clip_denoised=False, **TINY).eval()
    with torch.no_grad():  # untrained: un-zero the output layer and make the label embedding matter
        m.net.cond.label.weight.normal_(0, 3.0)
        m.net.out[-1].weight.normal_(0, 0.1)
    y = torch.tensor([1, 7, 3])
    draw = lambda **kw: m.sample(3, generator=torch.Generator().manual_seed(5), **kw)  # noqa: E731
    torch.testing.assert_close(
        draw(condition=y, guidance_scale=0.0),
        draw(condition=torch.full_like(y, 10), guidance_scale=1.0),
    )
    conditional = draw(condition=y, guidance_scale=1.0)
    assert not torch.allclose(conditional, draw(condition=y, guidance_scale=0.0))
    assert not torch.allclose(conditional, draw(condition=y, guidance_scale=3.0))


def test_inpaint_and_super_resolution_shapes(mnist16):
    x, _ = mnist16
    m = DiffusionModel(SHAPE, 10, **TINY).eval()
    mask = (torch.arange(28) < 14).float().expand(1, 1, 28, 28)
    out = m.inpaint(x[:3], mask, sampler=DDPM())
    torch.testing.assert_close(out * mask, x[:3] * mask)
    sr = DiffusionModel(SHAPE, 10, low_res_factor=4, **TINY).eval()
    assert sr.super_resolve(torch.nn.functional.avg_pool2d(x[:2], 4)).shape == (2, *SHAPE)
    with pytest.raises(ValueError, match="low-res images"):
        sr.sample(2)


def test_latent_diffusion_rejects_wrong_checkpoints(tmp_path, ae_ckpt):
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    with pytest.raises(CheckpointError, match="no encode\\(\\)/decode\\(\\)"):
        load_autoencoder(
            str(save_run(DiffusionModel([1, 16, 16], 0, **TINY), tmp_path / "ddpm", x)), [1, 16, 16]
        )
    with pytest.raises(CheckpointError, match="trained on images of shape \\[1, 28, 28\\]"):
        load_autoencoder(str(ae_ckpt), [1, 16, 16])
    bad = tmp_path / "truncated.ckpt"
    bad.write_bytes(ae_ckpt.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_autoencoder(str(bad), SHAPE)
    with pytest.raises(ConfigError, match="autoencoder_ckpt"):
        LatentDiffusion(SHAPE, 10)


def compose_train(tmp: Path, *overrides: str):
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *overrides,
                "logger=csv",
                f"paths.root_dir={tmp}",
                f"paths.output_dir={tmp}",
            ],
            return_hydra_config=True,
        )
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))


SMOKE = [
    "debug=smoke",
    "model.timesteps=20",
    "model.sampler.steps=4",
    "data.limit=128",
    "trainer.limit_val_batches=1",
]


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory) -> dict[str, Path]:
    """DDPM, conditional DDPM, and a VAE then latent diffusion on it, each trained by ``train()`` (smoke)."""
    runs = {}
    for name, extra in [
        ("ddpm_mnist", ["model.widths=[8,16]"]),
        ("cddpm_mnist", ["model.widths=[8,16]"]),
        ("vae_mnist", []),
    ]:
        runs[name] = tmp_path_factory.mktemp(name)
        overrides = [f"experiment={name}", *(SMOKE if "ddpm" in name else SMOKE[:1]), *extra]
        metrics = train(compose_train(runs[name], *overrides))
        assert np.isfinite(metrics["test/loss"])
    runs["ldm_mnist"] = tmp_path_factory.mktemp("ldm")
    ae = runs["vae_mnist"] / "checkpoints" / "last.ckpt"
    metrics = train(
        compose_train(
            runs["ldm_mnist"],
            "experiment=ldm_mnist",
            *SMOKE,
            f"model.autoencoder_ckpt={ae}",
            "model.hidden=32",
            "model.depth=1",
        )
    )
    assert np.isfinite(metrics["test/loss"])
    return runs


@pytest.mark.parametrize("name", ["ddpm_mnist", "cddpm_mnist", "ldm_mnist"])
def test_smoke_training_writes_a_loadable_sampler(name, smoke_runs):
    run = smoke_runs[name]
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "metrics.json").is_file()
    grid = np.asarray(Image.open(run / "images" / "samples_test.png"))
    assert grid.std() > 0  # not a blank picture
    model = load_model(run)  # weights_only: the sampler is stored as primitives
    assert model.hparams.sampler == {
        "_target_": "lightning_gen.diffusion.samplers.DDIM",
        "steps": 4,
        "eta": 0.0,
        "spacing": "linspace",
    }
    imgs = model.sample(3, condition=torch.tensor([1, 2, 3]) if name == "cddpm_mnist" else None)
    assert imgs.shape == (3, *SHAPE) and imgs.min() >= -1 and imgs.max() <= 1
    if name == "ldm_mnist":
        assert model.latent_scale is not None and model.latent_scale > 0
    # the experiments train with EMA: best.ckpt (saved during fit) holds averaged and raw weights
    best = run / "checkpoints" / "best.ckpt"
    raw, ema = load_model(best, weights="raw"), load_model(best)
    assert any(
        not torch.equal(a, b) for a, b in zip(raw.parameters(), ema.parameters(), strict=True)
    )


def test_sample_modes_in_process(smoke_runs, ae_ckpt, tmp_path):
    base = OmegaConf.load(Path(__file__).parents[2] / "configs" / "sample.yaml")
    del base["defaults"], base["hydra"]
    cfg = OmegaConf.merge(
        base,
        {
            "checkpoint": str(smoke_runs["ddpm_mnist"]),
            "n": 5,
            "mode": "inpaint",
            "mask": "top_half",
            "steps": 3,
            "out_dir": str(tmp_path),
        },
    )
    result = sample(cfg)
    data = np.load(result["npz"])
    assert data["images"].shape == (5, 1, 28, 28) and data["images"].dtype == np.uint8
    top = data["mask"][:, :, :14].astype(bool)
    orig = data["inputs"]  # masked inputs: known pixels equal the output's known pixels
    assert np.array_equal(data["images"][:, :, :14][top], orig[:, :, :14][top])
    with pytest.raises(ConfigError, match="super_resolution needs a model"):
        sample(OmegaConf.merge(cfg, {"mode": "super_resolution"}))
    with pytest.raises(CheckpointError, match="cannot sample"):
        sample(OmegaConf.merge(cfg, {"checkpoint": str(ae_ckpt), "mode": "generate"}))
    with pytest.raises(CheckpointError, match="missing.ckpt: no such file"):
        sample(OmegaConf.merge(cfg, {"checkpoint": str(tmp_path / "missing.ckpt")}))


def test_lgen_sample_cli(smoke_runs, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LGEN_ROOT": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "lightning_gen.commands.cli",
        "sample",
        f"checkpoint={smoke_runs['cddpm_mnist']}",
        "n=6",
        "label=3",
        "guidance_scale=2",
        "sampler=ddim",
        "steps=3",
        f"out_dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "samples/s" in proc.stdout
    data = np.load(tmp_path / "generate.npz")
    assert data["images"].shape == (6, 1, 28, 28) and (data["labels"] == 3).all()
    assert Image.open(tmp_path / "generate.png").size[0] > 28


def sample_cfg(**values):
    base = OmegaConf.load(Path(__file__).parents[2] / "configs" / "sample.yaml")
    del base["defaults"], base["hydra"]
    return OmegaConf.merge(base, values)


def sampler_cfg(name: str):
    return OmegaConf.load(Path(__file__).parents[2] / "configs" / "sampler" / f"{name}.yaml")


@pytest.mark.parametrize(
    "name, steps", [("ddpm", 7), ("ddpm", None), ("ddim", 5), ("dpm_solver", 3)]
)
def test_lgen_sample_runs_the_steps_asked_for(name, steps, smoke_runs, tmp_path, monkeypatch):
    calls = []
    forward = UNet.forward
    monkeypatch.setattr(UNet, "forward", lambda self, *a: calls.append(1) or forward(self, *a))
    cfg = sample_cfg(
        checkpoint=str(smoke_runs["ddpm_mnist"]),
        n=3,
        sampler=sampler_cfg(name),
        steps=steps,
        out_dir=str(tmp_path),
    )
    sample(cfg)
    # one batch of 3 images: one network call per step (steps=null for ddpm: all 20 timesteps)
    assert len(calls) == (steps or 20)


def test_sampling_options_are_checked(smoke_runs, ae_ckpt, tmp_path):
    ddpm = load_model(smoke_runs["ddpm_mnist"])
    assert resolve_sampling(ddpm, {"sampler": {"steps": 9}})["sampler"]["steps"] == 9
    with pytest.raises(ValueError, match="unknown sampling option 'guidance_scale'"):
        resolve_sampling(ddpm, {"guidance_scale": 3.0})  # unconditional: no guidance to set
    with pytest.raises(ConfigError, match="DPMSolverPP does not take"):
        sample(
            sample_cfg(
                checkpoint=str(smoke_runs["ddpm_mnist"]), sampler=sampler_cfg("dpm_solver"), eta=0.5
            )
        )
    with pytest.raises(ConfigError, match="VAE has no sampling options; drop \\['sampler'\\]"):
        sample(sample_cfg(checkpoint=str(smoke_runs["vae_mnist"]), steps=3, out_dir=str(tmp_path)))
    cddpm = load_model(smoke_runs["cddpm_mnist"])
    assert resolve_sampling(cddpm, {"guidance_scale": 3})["guidance_scale"] == 3


def test_capabilities_are_protocols(smoke_runs):
    ddpm, ldm = load_model(smoke_runs["ddpm_mnist"]), load_model(smoke_runs["ldm_mnist"])
    assert isinstance(ddpm, CanInpaint) and isinstance(ddpm, CanSuperResolve)
    assert ddpm.low_res_factor == 1  # the CLI refuses super-resolution on it
    assert not isinstance(ldm, CanInpaint) and not isinstance(ldm, CanSuperResolve)
    with pytest.raises(ConfigError, match="needs a model that can inpaint"):
        sample(sample_cfg(checkpoint=str(smoke_runs["ldm_mnist"]), mode="inpaint", n=2))


def test_lgen_evaluate_with_a_sampler_override(smoke_runs, tmp_path, monkeypatch):
    from hydra import compose, initialize_config_module

    from lightning_gen.commands.evaluate import evaluate

    def cfg(*extra):
        with initialize_config_module("lightning_gen.configs", version_base="1.3"):
            return compose(
                "evaluate",
                overrides=[
                    f"checkpoint={smoke_runs['ddpm_mnist']}",
                    f"paths.root_dir={tmp_path}",
                    f"paths.cache_dir={tmp_path}/cache",
                    f"paths.output_dir={tmp_path}/eval",
                    "data.limit=128",
                    "data.batch_size=16",
                    "metrics.num_samples=16",
                    "metrics.chunk_size=16",
                    "metrics.kid_subsets=2",
                    "metrics.kid_subset_size=8",
                    "metrics.extractor.epochs=1",
                    "metrics.extractor.widths=[4,8,8]",
                    *extra,
                ],
            )

    calls = []
    forward = UNet.forward
    monkeypatch.setattr(UNet, "forward", lambda self, *a: calls.append(1) or forward(self, *a))
    with pytest.raises(ConfigError, match="DPMSolverPP does not take"):
        evaluate(cfg("sampler=dpm_solver", "eta=0.5"))  # checked before anything is extracted
    assert not (tmp_path / "cache").exists()
    record = evaluate(cfg("sampler=ddpm", "steps=3"))
    assert record["protocol"]["sampling"] == {
        "sampler": {
            "_target_": "lightning_gen.diffusion.samplers.DDPM",
            "steps": 3,
            "spacing": "linspace",
        }
    }
    assert len(calls) == 3 and record["values"]["evaluate/fid"] > 0  # one chunk of 16, 3 steps
    default = evaluate(cfg())  # the model's own sampler (DDIM, 4 steps), another protocol key
    assert default["protocol"]["sampling"]["sampler"]["steps"] == 4
    assert default["protocol_key"] != record["protocol_key"]
