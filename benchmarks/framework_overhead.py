"""What ``lgen train`` costs over a plain PyTorch loop, per model family (steps only, and validation).

For each family (every ``configs/model/*.yaml``; through the first experiment that uses it, so the
data fits), the full ``lgen train`` configuration is built with lightning_gen's own compose and
instantiate code (callbacks, loggers, run folder, checkpoints) and fitted for one epoch. A callback
interrupts it every ``--steps`` batches to run as many steps of a plain PyTorch loop on a copy of the
same model (same initial weights, its own ``configure_optimizers``, same batch size and data):
``loss = training_step(batch); zero_grad; backward; step`` (GANs: their own update with
``optimizers``/``manual_backward`` bound to the plain optimisers and per-step logging off). Each
segment's ratio = plain seconds / lgen seconds (1.0: no tax; target >= 0.97).

Validation: the seconds from the last training batch to the end of the epoch (validation, reconstruction
metrics, image grids, checkpoints, metrics file; the clock stops when the epoch loop hands over to
``on_train_end``, so the once-per-run end of ``fit`` is not counted: it is reported apart as
``fit_end_s``) as a share of an epoch at the default schedule,
``val / (val + mean lgen step * batches per full epoch)`` (target <= 5 %). It is split into the
model's own ``validation_step`` seconds (the forward passes any training loop with a validation
split pays: ``validation_step_share``) and the rest, what the framework adds around it
(``framework_share``: reconstruction metrics, grids, logging, checkpoints, metrics file).

    python benchmarks/framework_overhead.py [--families autoencoder dcgan] [--segments 3] [--steps 4]
        [--quick] [--threads 1] [--json PATH] [hydra overrides...]

The GPU path (docs/benchmark.md#gpu-path-perf): pass its options as overrides, e.g.
``trainer=gpu perf=gpu`` or ``trainer=gpu perf.channels_last=true``; they apply to the lgen side
only, so each run reports lgen images/s with those options next to the plain loop's. Compare the
``lgen_images_per_s`` of runs with and without an option (same machine).
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import tempfile
import time
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from benchmarks.common import fmt, save, stats
from lightning_gen.instantiate import build_model, instantiate_group, perf_callbacks
from lightning_gen.reliability.checkpoint_io import AtomicCheckpointIO
from lightning_gen.reliability.state import RunState

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
NEEDS_CHECKPOINT = {
    "latent_diffusion": "needs a trained autoencoder checkpoint (autoencoder_ckpt)",
    "vq_prior": "needs a trained VQ-VAE checkpoint (vqvae_ckpt)",
}


def families() -> dict[str, list[str]]:
    """Every model config -> the overrides that train it (its first experiment, else model=<name>)."""
    out: dict[str, list[str]] = {}
    for model in sorted(p.stem for p in (CONFIGS / "model").glob("*.yaml")):
        exps = sorted(
            e.stem
            for e in (CONFIGS / "experiment").glob("*.yaml")
            if re.search(rf"override /model: {model}\s*$", e.read_text(), re.M)
        )
        out[model] = [f"experiment={exps[0]}"] if exps else [f"model={model}"]
    return out


def plain_stepper(model: L.LightningModule, loader) -> callable:
    """``run(k)``: ``k`` steps of a plain PyTorch loop on ``model`` (own optimisers, own iterator)."""
    model.train()
    opts = model.configure_optimizers()
    if isinstance(opts, dict):
        opts = opts["optimizer"]
    if isinstance(opts, tuple) and opts and isinstance(opts[0], list):
        opts = opts[0]
    opts = list(opts) if isinstance(opts, list | tuple) else [opts]
    manual = not model.automatic_optimization
    if manual:  # the module's own update, with plain optimisers and backward, no per-step logging
        model.optimizers = lambda use_pl_optimizer=True: opts if len(opts) > 1 else opts[0]
        model.manual_backward = lambda loss, *a, **k: loss.backward()
        model.logs_this_step = lambda: False
    state = {"it": iter(loader), "i": 0}

    def run(k: int) -> None:
        for _ in range(k):
            try:
                batch = next(state["it"])
            except StopIteration:
                state["it"] = iter(loader)
                batch = next(state["it"])
            out = model.training_step(batch, state["i"])
            state["i"] += 1
            if manual:
                continue
            loss = out["loss"] if isinstance(out, dict) else out
            opts[0].zero_grad(set_to_none=True)
            loss.backward()
            opts[0].step()

    return run


class EpochEnd(L.Callback):
    """First in the callback list: its ``on_train_end`` runs right after the last epoch ended."""

    def __init__(self) -> None:
        self.t = math.nan

    def on_train_end(self, trainer, pl_module):
        self.t = time.perf_counter()


def time_validation_steps(model: L.LightningModule) -> dict[str, float]:
    """Wrap ``model.validation_step`` to add its seconds (outside the sanity check) to ``["s"]``."""
    clock = {"s": 0.0}
    step = model.validation_step

    def timed(*args, **kwargs):
        t = time.perf_counter()
        out = step(*args, **kwargs)
        if not model.trainer.sanity_checking:
            clock["s"] += time.perf_counter() - t
        return out

    model.validation_step = timed
    return clock


class Interleaver(L.Callback):
    """Every ``steps`` training batches, runs ``steps`` plain steps; records both sides' seconds."""

    def __init__(self, plain, steps: int, segments: int, warmup: int = 1) -> None:
        self.plain, self.steps, self.limit = plain, steps, (segments + warmup) * steps
        self.warmup = warmup
        self.lgen: list[float] = []
        self.plain_s: list[float] = []
        self.t = self.last = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self.t = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if (batch_idx + 1) % self.steps or batch_idx >= self.limit:
            return
        self.lgen.append(time.perf_counter() - self.t)
        t = time.perf_counter()
        with torch.random.fork_rng():
            self.plain(self.steps)
        self.plain_s.append(time.perf_counter() - t)
        self.t = self.last = time.perf_counter()


def compose_cfg(overrides: list[str], out: str, extra: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        return compose(
            "train",
            overrides=[*overrides, f"paths.output_dir={out}", "test=false", *extra],
            return_hydra_config=False,
        )


def measure(name: str, overrides: list[str], args) -> dict:
    """Steps-only ratios and the validation share of one family."""
    with tempfile.TemporaryDirectory() as out:
        warmup = 1
        n = (args.segments + warmup) * args.steps
        cfg = compose_cfg(
            overrides,
            out,
            ["trainer.max_epochs=1", f"trainer.limit_train_batches={n}", *args.overrides],
        )
        L.seed_everything(cfg.seed, workers=True)
        dm = hydra.utils.instantiate(cfg.data, _convert_="all")
        dm.prepare_data()
        dm.setup("fit")
        model = build_model(cfg.model, dm)
        plain = plain_stepper(copy.deepcopy(model), dm.train_dataloader())
        inter = Interleaver(plain, args.steps, args.segments, warmup)
        epoch_end = EpochEnd()
        val_step_clock = time_validation_steps(model)
        # the perf options (channels_last, compile, ...) apply to the lgen side only: with them on,
        # the ratio is their gain net of the framework's cost; images/s is reported for both sides
        callbacks = [
            epoch_end,
            RunState(),
            *instantiate_group(cfg.get("callbacks")),
            *perf_callbacks(cfg),
            inter,
        ]
        loggers = instantiate_group(cfg.get("logger"), "logger")
        trainer = hydra.utils.instantiate(
            cfg.trainer,
            callbacks=callbacks,
            logger=loggers or False,
            plugins=[AtomicCheckpointIO()],
        )
        trainer.fit(model, datamodule=dm)
        fit_end_s = time.perf_counter() - epoch_end.t
        val_s = epoch_end.t - inter.last
        full_batches = len(dm.train_dataloader())
    ratios = [p / g for p, g in zip(inter.plain_s[warmup:], inter.lgen[warmup:], strict=True)]
    step_s = sum(inter.lgen[warmup:]) / (args.segments * args.steps)
    return {
        "overrides": overrides,
        "batch_size": int(cfg.data.batch_size),
        "steps_per_segment": args.steps,
        "ratio_plain_over_lgen": stats(ratios),
        "lgen_step_s": step_s,
        "plain_step_s": sum(inter.plain_s[warmup:]) / (args.segments * args.steps),
        "validation_s": val_s,
        "fit_end_s": fit_end_s,
        "batches_per_epoch": full_batches,
        "validation_share": val_s / (val_s + step_s * full_batches),
        "validation_step_share": val_step_clock["s"] / (val_s + step_s * full_batches),
        "framework_share": (val_s - val_step_clock["s"]) / (val_s + step_s * full_batches),
        "lgen_images_per_s": int(cfg.data.batch_size) / step_s,
        "perf": OmegaConf.to_container(cfg.perf) if cfg.get("perf") else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", nargs="*", default=None, help="model config names (default: all)")
    ap.add_argument("--segments", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="batches per segment")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--quick", action="store_true", help="tiny smoke run (batch 8, 1 segment of 1 step)"
    )
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("overrides", nargs="*", help="hydra overrides for every family")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    if args.quick:
        args.segments, args.steps = 1, 1
        args.overrides = [
            "data.batch_size=8",
            "data.limit=64",
            "trainer.limit_val_batches=1",
            *args.overrides,
        ]
    found = families()
    unknown = sorted(set(args.families or []) - set(found))
    if unknown:
        raise SystemExit(f"--families: unknown {unknown}; choose from {sorted(found)}")
    chosen = args.families or sorted(found)
    results, skipped = {}, {}
    for name in chosen:
        if name in NEEDS_CHECKPOINT:
            skipped[name] = NEEDS_CHECKPOINT[name]
            print(f"{name}: skipped, {skipped[name]}")
            continue
        r = results[name] = measure(name, found[name], args)
        print(
            f"{name:24s} plain/lgen steps-only {fmt(r['ratio_plain_over_lgen'])} (min/median/max), "
            f"lgen {1000 * r['lgen_step_s']:.0f} ms/step ({r['lgen_images_per_s']:.0f} images/s), validation {100 * r['validation_share']:.1f}% of an epoch "
            f"(validation_step {100 * r['validation_step_share']:.1f}%, the rest {100 * r['framework_share']:.1f}%)"
        )
    assert all(math.isfinite(r["validation_share"]) for r in results.values())
    save(
        "framework_overhead",
        {"segments": args.segments, "quick": args.quick, "families": results, "skipped": skipped},
        args.json,
    )


if __name__ == "__main__":
    main()
