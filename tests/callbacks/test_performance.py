"""The GPU path options (``perf``; lightning_gen/callbacks/performance.py), tested on CPU.

channels_last and torch.compile keep every image family's loss (its public ``loss`` hook); fused
Adam updates like the unfused one; the matmul precision is set for the run and put back; a
``perf=gpu`` smoke run (bf16-mixed on CPU) trains with finite losses and its checkpoint loads
strictly into a plain model, for sampling and for resuming.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_gen.callbacks.performance import PerformanceOptions, networks
from lightning_gen.commands import api
from lightning_gen.config_check import check_config
from lightning_gen.errors import ConfigError
from lightning_gen.vae.module import VAE
from tests.helpers.configs import build_all, compose_train
from tests.helpers.family_contract import hook_loss

# one experiment per image family; latent diffusion and the VQ prior build on a trained
# checkpoint and share their networks' code with ddpm / vqvae, so they are not repeated here
IMAGE_FAMILIES = [
    "dae_mnist",
    "vae_mnist",
    "cvae_mnist",
    "vqvae_mnist",
    "ddpm_mnist_cpu",
    "cddpm_mnist",
    "sr_mnist",
    "dcgan_mnist",
    "cgan_mnist",
    "wgan_gp_mnist",
    "stylegan_mnist",
    "pix2pix_edges_mnist",
    "cyclegan_digits",
]


def _family(name: str, tmp_path: Path) -> tuple[L.LightningModule, tuple]:
    """The experiment's model (debug=smoke) and one batch of 4 from its data."""
    cfg = compose_train(tmp_path, f"experiment={name}", "debug=smoke")
    dm, model, _, _ = build_all(cfg, with_trainer=False)
    x, y = next(iter(dm.train_dataloader()))
    return model, (x[:4], None if y is None else y[:4])


def _setup(cb: PerformanceOptions, model: L.LightningModule) -> L.Trainer:
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False)
    cb.setup(trainer, model, "fit")
    return trainer


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_channels_last_then_compile_keep_the_loss_and_the_state_dict_keys(name, tmp_path):
    """channels_last alone, then torch.compile on top (as ``perf=gpu perf.compile=true`` does);
    compile through a recording backend: dynamo traces every network, no code generation."""
    model, (x, y) = _family(name, tmp_path)
    before, keys = hook_loss(model, x, y), list(model.state_dict())

    cb = PerformanceOptions(channels_last=True)
    _setup(cb, model)
    weights = [p for p in model.parameters() if p.ndim == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    assert any(not p.is_contiguous() for p in weights if p.shape[1] > 1 and p.shape[2] > 1)
    assert cb.summary["channels_last"] == f"on ({len(weights)} 4-D tensors)"
    assert hook_loss(model, x, y) == pytest.approx(before, rel=1e-4, abs=1e-5)

    graphs: list[torch.fx.GraphModule] = []

    def recording_backend(gm: torch.fx.GraphModule, example_inputs: list) -> object:
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    _setup(PerformanceOptions(compile=True, compile_backend=recording_backend), model)
    nets = networks(model)
    assert nets and all(n._compiled_call_impl is not None for n in nets.values())
    assert hook_loss(model, x, y) == pytest.approx(before, rel=1e-4, abs=1e-5)
    assert graphs, "no network call went through torch.compile"
    assert list(model.state_dict()) == keys  # no _orig_mod. prefixes: checkpoints stay plain


def test_channels_last_on_a_model_without_4d_weights_is_named(tmp_path):
    cfg = compose_train(tmp_path, "experiment=seq2seq_reverse", "debug=smoke")
    _, model, _, _ = build_all(cfg, with_trainer=False)
    cb = PerformanceOptions(channels_last=True)
    _setup(cb, model)
    assert cb.summary["channels_last"] == "nothing to convert"


def _fit_vae(
    tmp_path: Path,
    steps: int,
    *callbacks: L.Callback,
    ckpt_path: Path | None = None,
    cls: type[VAE] = VAE,
) -> tuple[VAE, L.Trainer]:
    """A tiny VAE trained ``steps`` steps on 8 fixed images (the same run for the same seed)."""
    torch.manual_seed(0)
    model = cls([1, 8, 8], 0, latent_dim=2, widths=[4, 8])
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    loader = DataLoader(TensorDataset(x, torch.full((8,), -1)), batch_size=4)
    trainer = L.Trainer(
        max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, default_root_dir=tmp_path,
        callbacks=list(callbacks),
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=loader, ckpt_path=ckpt_path, weights_only=True)
    return model, trainer


def test_fused_adam_updates_like_the_unfused_one(tmp_path):
    """One update (later ones amplify rounding where a gradient is ~0: Adam divides by |g|)."""
    plain, t0 = _fit_vae(tmp_path / "a", 1)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fused, t1 = _fit_vae(tmp_path / "b", 1, PerformanceOptions(fused_optimizer=True))
    ops = {e.key for e in prof.key_averages()}
    assert any(re.search(r"_fused_adamw?_", op) for op in ops), "the fused kernel did not run"
    assert t1.optimizers[0].param_groups[0]["fused"] is True
    assert not t0.optimizers[0].param_groups[0].get("fused")
    for a, b in zip(plain.parameters(), fused.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    moments = [t.optimizers[0].state_dict()["state"][0]["exp_avg_sq"] for t in (t0, t1)]
    torch.testing.assert_close(*moments)


def test_fused_option_decides_after_a_resumed_optimizer_state(tmp_path):
    """The optimizer state of a checkpoint carries its run's flags; this run's option wins."""
    _, t0 = _fit_vae(tmp_path, 2)
    t0.save_checkpoint(tmp_path / "plain.ckpt")
    _, t1 = _fit_vae(
        tmp_path, 4, PerformanceOptions(fused_optimizer=True), ckpt_path=tmp_path / "plain.ckpt"
    )
    assert t1.global_step == 4 and t1.optimizers[0].param_groups[0]["fused"] is True


class _RMSpropVAE(VAE):
    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(self.parameters(), lr=1e-3)  # no fused kernel in torch


def test_an_optimizer_without_a_fused_kernel_is_named_not_fused(tmp_path, capsys):
    _, trainer = _fit_vae(tmp_path, 1, PerformanceOptions(fused_optimizer=True), cls=_RMSpropVAE)
    assert "fused_optimizer=RMSprop (no fused kernel)" in capsys.readouterr().out
    assert "fused" not in trainer.optimizers[0].param_groups[0]


def test_matmul_precision_is_set_for_the_run_and_put_back(tmp_path):
    seen: list[str] = []

    class Record(L.Callback):
        def on_train_batch_start(self, *args) -> None:
            seen.append(torch.get_float32_matmul_precision())

    before = torch.get_float32_matmul_precision()
    _fit_vae(tmp_path, 1, PerformanceOptions(matmul_precision="medium"), Record())
    assert seen == ["medium"] and torch.get_float32_matmul_precision() == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"matmul_precision": "tf32"}, r"perf.matmul_precision='tf32' is not one of highest, high"),
        ({"compile_mode": "max-autotune"}, r"perf.compile_mode='max-autotune' is set but perf.compile=false"),
    ],
)  # fmt: skip
def test_wrong_values_name_the_key(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PerformanceOptions(**kwargs)


def test_a_wrong_perf_value_fails_before_anything_is_built(tmp_path):
    cfg = compose_train(tmp_path, "perf.matmul_precision=tf32")
    with pytest.raises(ConfigError, match=r"perf.matmul_precision='tf32' is not valid: .*'high'"):
        check_config(cfg)


def test_perf_gpu_preset_composes_the_gpu_path(tmp_path):
    cfg = compose_train(tmp_path, "perf=gpu")
    assert cfg.trainer.precision == "bf16-mixed"
    assert (cfg.data.num_workers, cfg.data.pin_memory) == (4, True)
    assert cfg.perf.channels_last and cfg.perf.fused_optimizer and not cfg.perf.compile
    assert cfg.perf.matmul_precision == "high"
    for exp in ("char_lm_pydoc", "seq2seq_reverse"):  # text data takes the loader settings too
        dm, _, _, _ = build_all(
            compose_train(tmp_path, "perf=gpu", f"experiment={exp}", "debug=smoke"), False
        )
        loader = dm.train_dataloader()
        assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (4, True, True)


@functools.cache
def _smoke_overrides() -> tuple[str, ...]:
    return (
        "experiment=vae_mnist",
        "debug=smoke",
        "perf=gpu",  # bf16-mixed, channels_last, TF32, fused AdamW
        "perf.compile=true",
        "perf.compile_backend=eager",  # dynamo traces; no inductor code generation on CPU in tests
        "data.num_workers=0",
        "data.pin_memory=false",
        "logger=csv",
        "test=false",
    )


def test_perf_gpu_smoke_run_trains_and_its_checkpoint_loads_plainly(tmp_path, capsys):
    run = api.train(_smoke_overrides(), out=tmp_path / "run")
    out = capsys.readouterr().out
    assert re.search(r"perf: precision=bf16-mixed; matmul_precision=high; channels_last=on", out)
    assert "compile=eager (encoder, decoder)" in out and "fused_optimizer=AdamW" in out
    rows = (run / "csv" / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("train/loss")
    losses = [float(r.split(",")[col]) for r in rows[1:] if r.split(",")[col]]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert not any("_orig_mod" in k for k in ckpt["state_dict"])
    model = api.load(run)  # strict load into a plain (uncompiled, contiguous) model
    assert type(model).__name__ == "VAE" and model.sample(2).shape == (2, 1, 28, 28)
    # resume with the same options: continues from the checkpoint's step
    step = int(ckpt["global_step"])
    api.train([*_smoke_overrides(), f"resume={run}", "trainer.max_epochs=2"], out=run)
    resumed = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert int(resumed["global_step"]) > step


@pytest.mark.gpu
def test_perf_gpu_with_inductor_on_a_gpu(tmp_path):
    """The same smoke run on a CUDA device with the real compiler (deselected without a GPU)."""
    overrides = [o for o in _smoke_overrides() if not o.startswith("perf.compile_backend")]
    run = api.train([*overrides, "trainer=gpu"], out=tmp_path / "run")
    assert api.load(run).sample(2).isfinite().all()
