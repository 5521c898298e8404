"""Compose the config tree as ``lgen`` would and build what it names (no training)."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning_gen.configs
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from lightning_gen.config_check import check_config
from lightning_gen.instantiate import build_model, instantiate_group

CONFIG_DIR = Path(lightning_gen.configs.__file__).parent


def options(group: str) -> list[str]:
    """Names of the options of a config group (its yaml files)."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def compose_train(tmp_path: Path, *overrides: str, config: str = "train"):
    """Compose a top-level config as ``lgen`` would, with the run folder under ``tmp_path``."""
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            config,
            overrides=[
                *overrides,
                f"paths.root_dir={tmp_path}",
                f"paths.output_dir={tmp_path}/run",
            ],
            return_hydra_config=True,
        )
        HydraConfig.instance().set_config(cfg)
        hydra_node = cfg.hydra
        assert hydra_node.run.dir.startswith(
            f"{tmp_path}/runs/"
        )  # run folder interpolation resolves
        with open_dict(cfg):
            del cfg["hydra"]
        return OmegaConf.create(
            OmegaConf.to_container(cfg, resolve=True)
        )  # every interpolation resolves


def build_all(cfg, with_trainer: bool = True):
    """Instantiate data (set up), model, callbacks, loggers and the Trainer of a composed config."""
    check_config(cfg)
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.setup("fit")
    model = build_model(cfg.model, dm)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = None
    if with_trainer:
        trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return dm, model, callbacks, trainer
