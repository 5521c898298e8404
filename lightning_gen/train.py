"""``lgen train``: seed, instantiate data/model/callbacks/loggers/trainer from config, fit, test.

Run folder (``paths.output_dir``): ``config.yaml`` (resolved), ``checkpoints/{best,last}.ckpt``,
``metrics.json``, ``images/*.png`` and the loggers' folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from lightning_gen.cli_errors import user_errors
from lightning_gen.errors import ConfigError


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry with a ``_target_`` in a named group (callbacks, loggers); skip nulls.

    Weight-averaging callbacks go last so that anything sampling at validation end does so with
    the averaged weights before they are swapped back.
    """
    objs = [
        hydra.utils.instantiate(c, _convert_="all")
        for c in (group or {}).values()
        if c is not None and "_target_" in c
    ]
    averaging = [o for o in objs if type(o).__name__.endswith("WeightAveraging")]
    return [o for o in objs if o not in averaging] + averaging


def build_model(model_cfg: DictConfig, datamodule: L.LightningDataModule) -> L.LightningModule:
    """Instantiate the model with ``image_shape`` and ``num_classes`` taken from the data."""
    if model_cfg is None or "_target_" not in model_cfg:
        raise ConfigError("no model chosen: pass model=<name> (see `lgen train --help`)")
    return hydra.utils.instantiate(
        model_cfg,
        image_shape=list(datamodule.image_shape),
        num_classes=datamodule.num_classes,
        _convert_="all",
    )


def resolve_resume(resume: str | None) -> str | None:
    """A checkpoint path from ``resume`` (a run folder or a ``.ckpt``); None to start fresh."""
    if not resume:
        return None
    p = Path(resume)
    if p.is_dir():
        p = p / "checkpoints" / "last.ckpt"
    if not p.is_file():
        raise ConfigError(f"resume={resume}: no checkpoint at {p}; pass a run folder with checkpoints/last.ckpt or a .ckpt file")
    return str(p)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one experiment from a composed config; returns the final logged metrics."""
    L.seed_everything(cfg.seed, workers=True)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = build_model(cfg.model, datamodule)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    trainer.fit(model, datamodule=datamodule, ckpt_path=resolve_resume(cfg.get("resume")))
    if cfg.get("test"):
        ckpt = trainer.checkpoint_callback
        best = "best" if ckpt is not None and getattr(ckpt, "best_model_path", "") else None
        trainer.test(model, datamodule=datamodule, ckpt_path=best)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point (``lgen train`` / ``python -m lightning_gen.train``)."""
    with user_errors():
        metrics = train(cfg)
    monitor = cfg.get("optimized_metric")
    return metrics.get(monitor) if monitor else None


if __name__ == "__main__":
    main()
