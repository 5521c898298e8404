"""A small public API for notebooks and scripts: the ``lgen`` commands in-process, and results.

``run("train", ["experiment=vae_mnist", "debug=smoke"], out="runs/demo")`` composes the same config
``lgen train experiment=vae_mnist debug=smoke`` would and calls the same function, so a notebook and
the command line produce the same run folder. The readers (``load``, ``metrics``, ``curve``,
``datamodule``) only use what a run folder holds (``config.yaml``, ``checkpoints/``,
``metrics.json``, ``csv/metrics.csv``).
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning_gen import checkpoints
from lightning_gen.errors import ConfigError

# command -> "module:function(cfg)" (the function each Hydra app's main calls) and its output key
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("lightning_gen.commands.train:train", "paths.output_dir"),
    "analyze": ("lightning_gen.commands.analyze:analyze", "paths.output_dir"),
    "evaluate": ("lightning_gen.commands.evaluate:evaluate", "paths.output_dir"),
    "sample": ("lightning_gen.commands.sample:sample", "out_dir"),
    # the trained (or cached) feature classifier: extract(uint8 images) -> (features, logits)
    "classifier": ("lightning_gen.commands.classifier:build_classifier", "paths.output_dir"),
}


def _command(command: str) -> tuple[str, str]:
    if command not in COMMANDS:
        raise ConfigError(f"unknown command {command!r}; choose one of: {', '.join(COMMANDS)}")
    return COMMANDS[command]


def compose_config(
    command: str = "train", overrides: Sequence[str] = (), out: str | Path | None = None
) -> DictConfig:
    """The fully resolved config of ``lgen <command> <overrides>``, as Hydra would build it.

    ``out``: the output folder (``paths.output_dir``, or ``out_dir`` for ``sample``); default:
    the run folder Hydra would choose (``runs/<name>/<timestamp>/``). Bad overrides raise Hydra's
    errors.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.hydra_config import HydraConfig

    _, out_key = _command(command)
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(command, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # ${hydra:...} interpolations resolve as in a real run
    with open_dict(cfg):
        if out is None and command != "sample":
            out = cfg.hydra.run.dir
        if out is not None:
            OmegaConf.update(cfg, out_key, str(out), force_add=True)
        del cfg["hydra"]
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[return-value]


def run(command: str, overrides: Sequence[str] = (), out: str | Path | None = None) -> Any:
    """Run ``lgen <command> <overrides>`` in this process; returns what the command returns
    (train: final metrics; analyze: the ``analysis.json`` record; evaluate: the metrics record;
    sample: paths and throughput; classifier: the feature classifier of the data). Errors are
    raised, not turned into exit codes.
    """
    target, _ = _command(command)
    cfg = compose_config(command, overrides, out)
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(cfg)


def train(overrides: Sequence[str] = (), out: str | Path | None = None) -> Path:
    """``lgen train <overrides>`` in-process; returns the run folder."""
    cfg = compose_config("train", overrides, out)
    from lightning_gen.commands.train import train as train_cfg

    train_cfg(cfg)
    return Path(cfg.paths.output_dir)


def load(run_or_ckpt: str | Path, weights: str = "ema") -> L.LightningModule:
    """The model of a run folder (its ``checkpoints/last.ckpt``) or of a ``.ckpt``, in eval mode,
    read by the project's safe loader (``weights_only=True``)."""
    return checkpoints.load_model(run_or_ckpt, weights=weights)


def run_config(run: str | Path) -> DictConfig:
    """The resolved ``config.yaml`` a run folder was trained with."""
    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; pass a run folder written by lgen train")
    return OmegaConf.load(path)  # type: ignore[return-value]


def datamodule(
    run_or_overrides: str | Path | Sequence[str] = (), stage: str = "fit"
) -> L.LightningDataModule:
    """The set-up DataModule of a run folder (its exact splits) or of ``lgen train`` overrides
    (``["data=digits"]``)."""
    if isinstance(run_or_overrides, str | Path):
        data_cfg = run_config(run_or_overrides).data
    else:
        data_cfg = compose_config("train", run_or_overrides, out=".").data
    dm = hydra.utils.instantiate(data_cfg, _convert_="all")
    dm.prepare_data()
    dm.setup(stage)
    return dm


def metrics(run: str | Path) -> dict[str, float]:
    """The run's ``metrics.json`` flattened: ``{"val/loss": ..., "test/psnr": ..., ...}``
    (the stages' dicts merged; ``epoch`` and ``global_step`` kept; "nan"/"inf" as floats)."""
    path = Path(run) / "metrics.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; the run has not validated or tested yet")
    record = json.loads(path.read_text())
    flat: dict[str, float] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update({k: float(v) for k, v in value.items() if isinstance(v, int | float | str)})
        elif isinstance(value, int | float):
            flat[key] = float(value)
    return flat


def curve(run: str | Path, key: str, x: str = "step") -> tuple[list[float], list[float]]:
    """``(xs, ys)`` of one logged key from ``csv/metrics.csv`` (rows where it was logged, in
    order); ``x`` is ``step`` or ``epoch``. ConfigError naming the logged keys if ``key`` is absent.
    """
    path = Path(run) / "csv" / "metrics.csv"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; train with logger=csv (the default)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    fields = rows[0].keys() if rows else []
    if key not in fields:
        raise ConfigError(f"{key!r} was not logged in {path}; logged keys: {sorted(fields)}")
    xs, ys = [], []
    for row in rows:
        if row.get(key) not in (None, "") and row.get(x) not in (None, ""):
            value = float(row[key])
            if math.isfinite(value):
                xs.append(float(row[x]))
                ys.append(value)
    return xs, ys
