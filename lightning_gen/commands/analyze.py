"""``lgen analyze``: load an autoencoder checkpoint, run the chosen analyses, write ``analysis.json``.

``lgen analyze ckpt=runs/dae_mnist/<time> tasks=[compression,denoising,anomaly,latent]``
The model class and data config default to those in the run's ``config.yaml`` (written by
``lgen train``), so the analysed split is exactly the run's held-out split.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

from lightning_gen import checkpoints
from lightning_gen.analysis.options import task_options
from lightning_gen.analysis.tasks import TASKS
from lightning_gen.callbacks.metrics_file import write_json_atomic
from lightning_gen.cli_errors import user_errors
from lightning_gen.contracts import CanEncode, CanReconstruct
from lightning_gen.errors import CheckpointError, ConfigError


def resolve_checkpoint(ckpt: str) -> Path:
    """A ``.ckpt`` path from ``ckpt`` by the one rule (``lightning_gen.checkpoints``): a run folder's
    ``checkpoints/last.ckpt``, or the file itself."""
    return checkpoints.resolve_checkpoint(ckpt)


def build_data(cfg: DictConfig, run_cfg: DictConfig | None) -> Any:
    """The DataModule of ``data=`` if given, else of the run's config; set up."""
    data_cfg = cfg.get("data") or (run_cfg.get("data") if run_cfg is not None else None)
    if not data_cfg:
        raise ConfigError(
            "no data: pass data=<name> (e.g. data=mnist) or a ckpt inside a run folder with config.yaml"
        )
    dm = hydra.utils.instantiate(data_cfg, _convert_="all")
    dm.prepare_data()
    dm.setup("test")
    return dm


# what each task calls on the model (contracts.py)
TASK_NEEDS = {
    "compression": CanReconstruct,
    "denoising": CanReconstruct,
    "anomaly": CanReconstruct,
    "latent": CanEncode,
}


def check_capabilities(model: Any, tasks: list[str], ckpt: Path) -> None:
    """``CheckpointError`` naming the model and the fix when it lacks what every task calls (a task
    that only some of the model's capabilities miss is skipped by the task loop instead)."""
    missing = [t for t in tasks if not isinstance(model, TASK_NEEDS.get(t, object))]
    if missing and len(missing) == len(tasks):
        needs = sorted({TASK_NEEDS[t].__name__ for t in missing})
        raise CheckpointError(
            f"lgen analyze tasks {missing} need a model that implements {' and '.join(needs)} "
            f"(autoencoder/VAE families); {ckpt} holds a {type(model).__name__}, which does not. "
            "Drop those tasks, or score a generator with lgen evaluate / lgen sample"
        )


def _finite(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats become strings ("inf", "nan")."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def analyze(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg.tasks`` on the checkpoint ``cfg.ckpt``; write and return the ``analysis.json`` record."""
    unknown = [t for t in cfg.tasks if t not in TASKS]
    if unknown:
        raise ConfigError(
            f"tasks={list(cfg.tasks)}: {unknown} unknown; choose from {sorted(TASKS)}"
        )
    L.seed_everything(cfg.seed, verbose=False)
    ckpt = resolve_checkpoint(str(cfg.ckpt))
    run_cfg = checkpoints.run_config(ckpt)
    model = checkpoints.load_model(ckpt, cfg.device, model_target=cfg.get("model_target"))
    target = f"{type(model).__module__}.{type(model).__qualname__}"
    check_capabilities(model, list(cfg.tasks), ckpt)
    dm = build_data(cfg, run_cfg)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"checkpoint": str(ckpt), "model": target, "split": cfg.split}
    for name in cfg.tasks:
        opts = task_options(cfg, name)
        try:
            if not isinstance(model, TASK_NEEDS.get(name, object)):
                raise ConfigError(
                    f"{type(model).__name__} does not implement {TASK_NEEDS[name].__name__}"
                )
            with torch.no_grad():
                record[name] = TASKS[name](model, dm, opts, out)
        except ConfigError as exc:  # this task does not apply to this model/data
            if cfg.get("strict"):
                raise
            record[name] = {"skipped": str(exc)}
            print(f"{name}: skipped: {exc}")
            continue
        print(f"{name}: {_summary(record[name])}")
    write_json_atomic(out / "analysis.json", _finite(record))
    print(f"wrote {out / 'analysis.json'}")
    return record


def _summary(result: dict) -> str:
    """A one-line summary of a task's numbers for the terminal."""
    flat = {
        f"{k}.{k2}" if isinstance(v, dict) else k: v2
        for k, v in result.items()
        for k2, v2 in (v.items() if isinstance(v, dict) else [(None, v)])
    }
    keys = ("psnr", "compression_ratio", "psnr_noisy", "psnr_denoised", "auroc", "silhouette")
    return ", ".join(
        f"{k}={v:.3g}" for k, v in flat.items() if isinstance(v, float) and k.split(".")[-1] in keys
    )


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="analyze", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (``lgen analyze`` / ``python -m lightning_gen.commands.analyze``)."""
    with user_errors():
        analyze(cfg)


if __name__ == "__main__":
    main()
