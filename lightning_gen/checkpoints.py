"""Load a checkpoint of any family safely: one loader for ``lgen sample``, ``evaluate`` and ``analyze``.

Files are read with ``weights_only=True`` (no code runs from an untrusted file). The model class is
the one ``lgen train`` records in every checkpoint (``checkpoint["lgen"]["model_class"]``), else
the run's ``config.yaml`` (``model._target_``), else an explicit ``model_target``. Every failure is a
``CheckpointError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from lightning_gen.errors import CheckpointError, ConfigError


def resolve_checkpoint(
    path: str | Path, prefer: Sequence[str] = ("last.ckpt", "best.ckpt")
) -> Path:
    """A ``.ckpt`` file from a path: the file itself, or the first of ``prefer`` in ``<run>/checkpoints/``."""
    p = Path(path)
    if p.is_dir():
        for name in prefer:
            if (p / "checkpoints" / name).is_file():
                return p / "checkpoints" / name
        raise CheckpointError(
            f"no checkpoints/{' or '.join(prefer)} in run folder {p}; pass a .ckpt file"
        )
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p}: no such file; pass a run folder or a .ckpt file")
    return p


def run_config(ckpt: Path) -> DictConfig | None:
    """The resolved ``config.yaml`` of the run a checkpoint belongs to (``<run>/checkpoints/x.ckpt``)."""
    for folder in (ckpt.parent.parent, ckpt.parent):
        if (folder / "config.yaml").is_file():
            return OmegaConf.load(folder / "config.yaml")  # type: ignore[return-value]
    return None


def read_checkpoint(ckpt: Path) -> dict[str, Any]:
    """The checkpoint dict, read with ``weights_only=True``; CheckpointError if unreadable or not Lightning's."""
    try:
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, not a checkpoint, unsafe pickle...
        raise CheckpointError(
            f"{ckpt} is not a readable checkpoint ({type(exc).__name__}); re-save or re-train it"
        ) from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{ckpt} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def model_class_path(
    ckpt: Path, checkpoint: dict[str, Any], model_target: str | None = None
) -> str:
    """``module.Class`` of the model in ``checkpoint`` (see the module docstring for the order)."""
    meta = checkpoint.get("lgen") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"{ckpt}: its 'lgen' metadata is damaged ({type(meta).__name__}, expected a dict); "
            "pass model_target=<module.Class> or re-save the checkpoint"
        )
    path = model_target or meta.get("model_class")
    if path is not None and not isinstance(path, str):
        raise CheckpointError(
            f"{ckpt}: its recorded model class {path!r} is not a class path; "
            "pass model_target=<module.Class>"
        )
    if path is None:
        cfg = run_config(ckpt)
        path = OmegaConf.select(cfg, "model._target_") if cfg is not None else None
    if path is None:
        raise CheckpointError(
            f"{ckpt}: cannot tell which model class it holds (no class path in the checkpoint and no "
            "config.yaml of its run next to it); keep it inside its run folder or pass model_target=<module.Class>"
        )
    return str(path)


def import_class(path: str, ckpt: Path) -> type:
    """Import ``module.Class``; CheckpointError if it cannot be imported."""
    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{ckpt}: model class {path} cannot be imported ({exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, L.LightningModule)):
        raise CheckpointError(
            f"{ckpt}: recorded model class {path} is not a LightningModule (damaged or foreign "
            "metadata); pass model_target=<module.Class> of the family that trained it"
        )
    return cls


def load_model(
    path: str | Path,
    device: str = "cpu",
    weights: str = "ema",
    model_target: str | None = None,
    prefer: Sequence[str] = ("last.ckpt", "best.ckpt"),
) -> L.LightningModule:
    """Load any family's checkpoint (a ``.ckpt`` or a run folder) in eval mode.

    ``weights="ema"``: the checkpoint's ``state_dict`` (the averaged weights when trained with a
    weight-averaging callback); ``"raw"``: the un-averaged ``current_model_state`` Lightning keeps
    next to them (the same as ``"ema"`` for a run without averaging).
    """
    if weights not in ("ema", "raw"):
        raise ConfigError(f"weights={weights!r} must be 'ema' or 'raw'")
    ckpt = resolve_checkpoint(path, prefer)
    checkpoint = read_checkpoint(ckpt)
    target = model_class_path(ckpt, checkpoint, model_target)
    cls = import_class(target, ckpt)
    try:
        model = cls.load_from_checkpoint(ckpt, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - shape mismatch, wrong family, missing hyper-parameters
        raise CheckpointError(
            f"could not load {ckpt} as {target}: {type(exc).__name__}: {exc}"
        ) from exc
    if weights == "raw" and "current_model_state" in checkpoint:
        model.load_state_dict(checkpoint["current_model_state"])
    return model.eval()
