"""Build the objects of a composed ``lgen train`` config: the model (with the data's shapes) and
the named groups (callbacks, loggers). Every entry is checked first (``config_check``): a
non-null entry without ``_target_`` is an error naming its key, never skipped."""

from __future__ import annotations

from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig

from lightning_gen.config_check import check_group
from lightning_gen.errors import ConfigError


def instantiate_group(group: DictConfig | None, name: str = "callbacks") -> list[Any]:
    """Instantiate every entry of a named group (``callbacks``, ``logger``) in config order; null
    entries are dropped (that is how a config turns one off). Raises ``ConfigError`` naming
    ``<name>.<key>`` for an entry without ``_target_``.

    Weight-averaging callbacks go last so that anything sampling at validation end does so with
    the averaged weights before they are swapped back; callbacks with ``run_last = True`` (the
    graceful stop) after them, so that the checkpoint saved at a batch end includes that batch's
    weight-average update.
    """
    check_group(group, name)
    objs = [hydra.utils.instantiate(c, _convert_="all") for c in (group or {}).values() if c]

    def order(o: Any) -> int:
        return 2 if getattr(o, "run_last", False) else int(is_weight_averaging(o))

    return sorted(objs, key=order)  # stable: config order within each rank


def perf_callbacks(cfg: DictConfig) -> list[Any]:
    """The callback of the ``perf`` node (speed options: channels_last, compile, matmul precision,
    fused optimizers) as a one-item list; empty when the config has no ``perf`` node. It goes after
    the other callbacks, so weight averaging copies the model before it is converted/compiled."""
    return [hydra.utils.instantiate(cfg.perf, _convert_="all")] if cfg.get("perf") else []


def is_weight_averaging(obj: Any) -> bool:
    """True for Lightning's weight-averaging callbacks (EMA, SWA)."""
    return type(obj).__name__.endswith("WeightAveraging")


def build_model(
    model_cfg: DictConfig | None, datamodule: L.LightningDataModule
) -> L.LightningModule:
    """Instantiate the model with what the data says: ``datamodule.model_kwargs()`` where the data
    has it (text: vocab size, tokenizer), else ``image_shape`` and ``num_classes``."""
    if model_cfg is None or "_target_" not in model_cfg:
        raise ConfigError("no model chosen: pass model=<name> (see `lgen train --help`)")
    if hasattr(datamodule, "model_kwargs"):
        kwargs = datamodule.model_kwargs()
    else:
        kwargs = {
            "image_shape": list(datamodule.image_shape),
            "num_classes": datamodule.num_classes,
        }
    return hydra.utils.instantiate(model_cfg, **kwargs, _convert_="all")
