"""Generation-metric cost per evaluation (cold and warm reference cache) and metric-state memory.

Runs the default experiment (``experiment=vae_mnist callbacks=generation``) twice for a few epochs,
scoring at every validation epoch: first with an empty cache (cold: the classifier is trained and
the reference statistics are extracted at setup), then again with the cache from the first run
(warm). Prints the setup and per-validation-epoch metric times, their ratio to the mean training
epoch time, and the amortised cost at the default schedule (every ``every_n_epochs`` epochs; target <= 10 %).

Memory: the bytes held in the metric states (FID sums, KID feature lists, precision/recall points)
while scoring ``n`` generated feature vectors against the reference, and the seconds to score them,
for each ``--memory-samples`` count (random features of the extractor's width: cost only).

    python benchmarks/metric_cost.py [--epochs 1] [--quick] [--memory-samples 500 2000 8000]
        [--threads 1] [--json PATH] [hydra overrides ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_module

from benchmarks.common import save
from lightning_gen.callbacks.generation import GenerationMetrics
from lightning_gen.instantiate import build_model
from lightning_gen.metrics.reference import ReferenceStats, mean_cov
from lightning_gen.metrics.scorer import GenerationScorer


class EpochTimer(L.Callback):
    """Wall time of each training epoch (without validation)."""

    def __init__(self) -> None:
        self.train_epochs: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self.train_epochs.append(time.perf_counter() - self._t)


def run(cfg, cache_dir: str, epochs: int) -> dict[str, float]:
    """One training run scoring every epoch; returns its timings in seconds."""
    L.seed_everything(cfg.seed)
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.setup("fit")
    model = build_model(cfg.model, dm)
    gm_cfg = {
        **cfg.callbacks.generation_metrics,
        "cache_dir": cache_dir,
        "every_n_epochs": 1,
        "on_test": False,
    }
    gm: GenerationMetrics = hydra.utils.instantiate(gm_cfg, _convert_="all")
    timer = EpochTimer()
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[gm, timer],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=1,
        default_root_dir=tempfile.mkdtemp(),
    )
    trainer.fit(model, datamodule=dm)
    setup = gm.setup_seconds
    train_epoch = sum(timer.train_epochs) / len(timer.train_epochs)
    metric = sum(gm.timings) / len(gm.timings)
    return {
        "setup_s": setup,
        "train_epoch_s": train_epoch,
        "metric_per_val_epoch_s": metric,
        "ratio_per_val_epoch": metric / train_epoch,
        "fid": float(trainer.callback_metrics["val/fid"]),
        "num_features": int(gm.extractor.num_features),
    }


def state_bytes(scorer: GenerationScorer) -> int:
    """Bytes of every tensor held in the scorer's metric states (lists of tensors included)."""
    seen: set[int] = set()
    total = 0

    def add(v) -> None:
        nonlocal total
        if isinstance(v, torch.Tensor) and id(v) not in seen:
            seen.add(id(v))
            total += v.numel() * v.element_size()
        elif isinstance(v, list | tuple):
            for x in v:
                add(x)

    for m in scorer.metrics:
        for v in vars(m).values():
            add(v)
        for name in getattr(m, "_defaults", {}):
            add(getattr(m, name))
    return total


def memory_vs_samples(num_features: int, reference: int, counts: list[int]) -> list[dict]:
    """Metric-state bytes and scoring seconds for each generated-sample count."""
    feats = torch.randn(reference, num_features)
    mean, cov = mean_cov(feats)
    ref = ReferenceStats(mean=mean, cov=cov, features=feats, logits=None, fingerprint={})
    rows = []
    for n in counts:
        scorer = GenerationScorer(num_features, kid_subsets=10, kid_subset_size=min(n, 1000))
        gen = torch.randn(n, num_features)
        scorer.load_reference(ref, True, torch.device("cpu"))
        scorer.fid.update(gen, real=False)
        scorer.kid.update(gen, real=False)
        scorer.pr.update(gen)
        held = state_bytes(scorer)
        t = time.perf_counter()
        scorer.score(ref, gen, None)
        rows.append(
            {"num_samples": n, "state_mb": held / 2**20, "score_s": time.perf_counter() - t}
        )
        print(
            f"{n} samples: metric states {held / 2**20:.1f} MB, scoring {rows[-1]['score_s']:.2f}s"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="debug=smoke sized run")
    ap.add_argument("--memory-samples", type=int, nargs="+", default=[500, 2000, 8000])
    ap.add_argument("--reference", type=int, default=500, help="reference size for the memory part")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    ap.add_argument("overrides", nargs="*", help="hydra overrides, e.g. metrics.num_samples=1000")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "experiment=vae_mnist",
                "callbacks=generation",
                "paths.output_dir=.",
                *(["debug=smoke"] if args.quick else []),
                *args.overrides,
            ],
        )
    every = int(cfg.callbacks.generation_metrics.every_n_epochs)
    max_epochs = int(cfg.trainer.max_epochs)
    with tempfile.TemporaryDirectory() as cache:
        cold = run(cfg, cache, args.epochs)
        warm = run(cfg, cache, args.epochs)
    report = {
        "experiment": "vae_mnist",
        "num_samples": int(cfg.metrics.num_samples),
        "threads": args.threads,
        "default_every_n_epochs": every,
        "max_epochs": max_epochs,
        "cold": cold,
        "warm": warm,
    }
    for name, r in (("cold", cold), ("warm", warm)):
        # at the default schedule: one scoring every `every` epochs; setup once per run of max_epochs
        r["amortised_ratio_default_schedule"] = (
            r["metric_per_val_epoch_s"] / every + r["setup_s"] / max_epochs
        ) / r["train_epoch_s"]
        print(
            f"{name}: setup {r['setup_s']:.1f}s, train epoch {r['train_epoch_s']:.1f}s, metrics "
            f"{r['metric_per_val_epoch_s']:.2f}s per validation epoch = {100 * r['ratio_per_val_epoch']:.1f}% "
            f"of an epoch; at every_n_epochs={every} (setup spread over {max_epochs} epochs): "
            f"{100 * r['amortised_ratio_default_schedule']:.1f}%"
        )
    counts = [64, 128] if args.quick else args.memory_samples
    report["memory"] = memory_vs_samples(cold["num_features"], args.reference, counts)
    report["quick"] = args.quick
    save("metric_cost", report, args.json)


if __name__ == "__main__":
    main()
