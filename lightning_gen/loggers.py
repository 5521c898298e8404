"""Logger factories that need more than a ``_target_`` (W&B offline fallback)."""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf


def wandb_has_key() -> bool:
    """True when a W&B API key is configured (env var or ~/.netrc from ``wandb login``)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = os.path.expanduser("~/.netrc")
    return os.path.exists(netrc) and "api.wandb.ai" in open(netrc).read()


def make_wandb_logger(offline: bool | None = None, **kwargs: Any):
    """A ``WandbLogger``; with ``offline=None`` it goes offline (one-line notice) when no API key is set.

    ``WANDB_MODE=offline`` in the environment is honoured as well.
    """
    import importlib.util

    from lightning.pytorch.loggers import WandbLogger

    from lightning_gen.errors import ConfigError

    if importlib.util.find_spec("wandb") is None:
        raise ConfigError(
            "logger=wandb needs the wandb package: pip install 'lightning-gen[wandb]' (or use logger=csv)"
        )
    if offline is None:
        offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun") or not wandb_has_key()
        if offline and os.environ.get("WANDB_MODE") not in ("offline", "dryrun"):
            rank_zero_info(
                "W&B: no API key configured, logging offline (sync later with `wandb sync`)."
            )
    if offline:
        os.environ.setdefault("WANDB_MODE", "offline")
    os.makedirs(kwargs.get("save_dir", "."), exist_ok=True)
    return WandbLogger(offline=offline, **kwargs)


def log_config(loggers: list[Any], cfg: DictConfig) -> None:
    """Log the whole resolved config (flattened ``a/b/c`` keys) as hyper-parameters to every logger,
    so dashboards can filter and group runs by any setting (not only the model's)."""
    from lightning.pytorch.loggers.logger import Logger

    flat = _flatten(OmegaConf.to_container(cfg, resolve=True))
    for logger in loggers:
        if isinstance(logger, Logger):
            logger.log_hyperparams({f"config/{k}": v for k, v in flat.items()})


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d if isinstance(d, (int, float, str, bool)) or d is None else str(d)}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}/{k}" if prefix else str(k)))
    return out
