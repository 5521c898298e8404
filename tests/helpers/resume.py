"""Shared helpers for exact-resume tests: run ``train()`` in-process, compare two runs exactly.

``assert_same_checkpoint`` compares every tensor of two checkpoints (weights, EMA and raw weights,
optimizer moments, GAN image pools, RNG states) and their plain values (loop counters, callback
states), with the two run folders' paths made equal; ``assert_same_logs`` compares ``metrics.json``
and the CSV rows.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from lightning_gen.checkpoints import read_checkpoint
from lightning_gen.commands.train import train

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS_DIR = REPO / "configs" / "experiment"
# values that legitimately differ between two identical runs (wall-clock time)
VOLATILE_KEYS = {"time_elapsed"}


def compose_train(out: Path, *overrides: str) -> DictConfig:
    """The ``lgen train`` config for ``overrides`` with run folder ``out`` (``name`` fixed)."""
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        return compose(
            "train",
            overrides=[*overrides, "name=resume_test", f"paths.output_dir={out}"],
        )


def run_train(out: Path, *overrides: str) -> dict[str, float]:
    """``lgen train <overrides>`` in this process, in run folder ``out``."""
    return train(compose_train(out, *overrides))


def experiment_names() -> list[str]:
    """Every experiment config (new families are picked up by the glob)."""
    return sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.yaml"))


def experiment_family(name: str) -> str:
    """The family of an experiment: the package of its model's ``_target_``
    (``lightning_gen.gan``...); translation GANs (a ``source`` condition) are their own family."""
    cfg = compose_train(Path("/nonexistent"), f"experiment={name}")
    target = str(cfg.model._target_)
    family = target.rsplit(".", 2)[0]
    return family + ".translation" if ".translation." in target else family


def _assert_same(a: Any, b: Any, where: str, paths: tuple[str, str]) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), (
            f"{where} differs (max |diff| {(a.float() - b.float()).abs().max()})"
        )
    elif isinstance(a, dict):
        norm_a = {str(k).replace(paths[0], "<run>"): v for k, v in a.items()}
        norm_b = {str(k).replace(paths[1], "<run>"): v for k, v in b.items()}
        assert set(norm_a) == set(norm_b), f"{where}: keys {sorted(norm_a)} vs {sorted(norm_b)}"
        for k, v in norm_a.items():
            if k not in VOLATILE_KEYS:
                _assert_same(v, norm_b[k], f"{where}.{k}", paths)
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: length differs"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]", paths)
    elif isinstance(a, str) and isinstance(b, str):
        assert a.replace(paths[0], "<run>") == b.replace(paths[1], "<run>"), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def assert_same_checkpoint(a: Path, b: Path, name: str = "last.ckpt") -> dict[str, Any]:
    """Every entry of ``<a>/checkpoints/<name>`` equals ``<b>``'s; returns ``a``'s checkpoint."""
    ca = read_checkpoint(a / "checkpoints" / name)
    cb = read_checkpoint(b / "checkpoints" / name)
    _assert_same(ca, cb, name, (str(a), str(b)))
    return ca


def csv_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_same_logs(a: Path, b: Path) -> None:
    """``metrics.json`` (incl. which checkpoints at which steps; all but wall-clock seconds) and
    every CSV row are equal."""
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    for m in (ma, mb):  # wall-clock seconds differ; the images trained must not
        m.get("time", {}).pop("time/train_seconds", None)
    assert ma == mb, f"metrics.json differs:\n{ma}\n{mb}"
    assert csv_rows(a) == csv_rows(b)


def assert_same_run(a: Path, b: Path) -> None:
    """Two run folders ended in exactly the same state (``last.ckpt``, ``best.ckpt``, logs)."""
    assert_same_checkpoint(a, b)
    if (a / "checkpoints" / "best.ckpt").exists() or (b / "checkpoints" / "best.ckpt").exists():
        assert_same_checkpoint(a, b, "best.ckpt")
    assert_same_logs(a, b)
