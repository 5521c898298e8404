"""Data-loader throughput vs training throughput (images/s), interleaved inside one process.

For each experiment, ``--batches`` batches are drawn from the DataModule's train loader (nothing
else), then ``--batches`` plain training steps of the experiment's model run on one held batch;
alternating segments give the ratio loader images/s / training images/s (>> 1: the loader is not
the bottleneck).

    python benchmarks/data_throughput.py [--experiments vae_mnist dcgan_mnist] [--batches 5]
        [--segments 3] [--quick] [--threads 1] [--json PATH] [hydra overrides ...]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from benchmarks.common import fmt, interleave, save, stats
from benchmarks.framework_overhead import plain_stepper
from lightning_gen.instantiate import build_model


def measure(experiment: str, args) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"experiment={experiment}", "paths.output_dir=.", *args.overrides]
        )
    L.seed_everything(cfg.seed)
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    model = build_model(cfg.model, dm)
    loader = dm.train_dataloader()
    state = {"it": iter(loader)}

    def load() -> None:
        for _ in range(args.batches):
            try:
                next(state["it"])
            except StopIteration:
                state["it"] = iter(loader)
                next(state["it"])

    held = next(iter(loader))
    train = plain_stepper(model, [held])
    times = interleave({"loader": load, "train": lambda: train(args.batches)}, args.segments)
    ratios = [t / ld for ld, t in zip(times["loader"], times["train"], strict=True)]
    n = args.batches * int(cfg.data.batch_size)
    return {
        "batch_size": int(cfg.data.batch_size),
        "num_workers": int(cfg.data.num_workers),
        "loader_images_per_s": n / min(times["loader"]),
        "train_images_per_s": n / min(times["train"]),
        "ratio_loader_over_train": stats(ratios),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--experiments", nargs="+", default=["vae_mnist", "dcgan_mnist", "ddpm_mnist_cpu"]
    )
    ap.add_argument("--batches", type=int, default=5, help="batches per segment")
    ap.add_argument("--segments", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="tiny run: batch 8, 1 segment of 1 batch")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("overrides", nargs="*", help="hydra overrides for every experiment")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    if args.quick:
        args.batches, args.segments = 1, 1
        args.experiments = args.experiments[:1]
        args.overrides = ["data.batch_size=8", "data.limit=64", *args.overrides]
    results = {}
    for exp in args.experiments:
        r = results[exp] = measure(exp, args)
        print(
            f"{exp:20s} loader {r['loader_images_per_s']:.0f} img/s, training {r['train_images_per_s']:.0f} img/s, "
            f"loader/training {fmt(r['ratio_loader_over_train'])} (min/median/max)"
        )
    save(
        "data_throughput",
        {"segments": args.segments, "quick": args.quick, "experiments": results},
        args.json,
    )


if __name__ == "__main__":
    main()
