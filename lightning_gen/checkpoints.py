"""Checkpoints of any family: ONE rule for picking a run's checkpoint, ONE reader, one loader.

The rule (``lgen sample``, ``lgen evaluate``, ``lgen analyze`` and ``lgen train resume=`` alike):
a run folder means its ``checkpoints/last.ckpt`` (the run's final weights, see
``callbacks/last_checkpoint.py``); an explicit ``.ckpt`` path is used as given (e.g.
``<run>/checkpoints/best.ckpt``). Nothing else is guessed.

Files are read with ``weights_only=True`` (no code runs from an untrusted file). The model class is
the one ``lgen train`` records in every checkpoint (``checkpoint["lgen"]["model_class"]``), else
the run's ``config.yaml`` (``model._target_``), else an explicit ``model_target``. Every failure is a
``CheckpointError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import importlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from lightning_gen.errors import CheckpointError, ConfigError

LAST_NAME = "last.ckpt"


def resolve_checkpoint(path: str | Path) -> Path:
    """The ``.ckpt`` file that ``path`` names: a run folder -> ``<run>/checkpoints/last.ckpt``;
    a file -> itself. ``CheckpointError`` naming the fix when there is none."""
    p = Path(path)
    if p.is_dir():
        last = p / "checkpoints" / LAST_NAME
        if not last.is_file():
            raise CheckpointError(
                f"no checkpoints/{LAST_NAME} in run folder {p}; pass a .ckpt file "
                "(e.g. <run>/checkpoints/best.ckpt)"
            )
        return last
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p}: no such file; pass a run folder or a .ckpt file")
    return p


def announce_checkpoint(ckpt: Path, checkpoint: dict[str, Any], what: str = "using") -> str:
    """Print (and return) the one line saying which checkpoint and which step a command uses."""
    line = (
        f"{what} checkpoint {ckpt} (global_step {checkpoint.get('global_step', '?')}, "
        f"epoch {checkpoint.get('epoch', '?')})"
    )
    print(line, flush=True)
    return line


def run_config(ckpt: Path) -> DictConfig | None:
    """The resolved ``config.yaml`` of the run a checkpoint belongs to (``<run>/checkpoints/x.ckpt``)."""
    for folder in (ckpt.parent.parent, ckpt.parent):
        if (folder / "config.yaml").is_file():
            return OmegaConf.load(folder / "config.yaml")  # type: ignore[return-value]
    return None


def _allow_lightning_globals() -> None:
    """Allow-list the few non-tensor types Lightning writes into checkpoints (no code execution)."""
    from lightning.fabric.utilities.data import AttributeDict

    torch.serialization.add_safe_globals([AttributeDict])


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """THE checkpoint reader: ``torch.load(weights_only=True)`` (tensors and primitives only).

    ``CheckpointError`` naming the problem: missing, empty, truncated/corrupt, holding objects that
    are not plain data (an untrusted or foreign file), or not a Lightning checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; pass a run folder or a .ckpt file"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes): it was never written completely; use another"
        )
    _allow_lightning_globals()
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} holds objects that are not plain tensors/values and was refused "
            f"(weights_only loading; it may come from an untrusted source): {str(exc).splitlines()[0]}"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "use an earlier checkpoint or retrain"
        ) from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint (no 'state_dict'); pass a .ckpt saved by lgen train"
        )
    return ckpt


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
    announce: bool = True,
) -> L.LightningModule:
    """Load any family's checkpoint (a ``.ckpt`` or a run folder) in eval mode.

    ``weights="ema"``: the checkpoint's ``state_dict`` (the averaged weights when trained with a
    weight-averaging callback); ``"raw"``: the un-averaged ``current_model_state`` Lightning keeps
    next to them (the same as ``"ema"`` for a run without averaging). ``path`` follows the rule of
    the module docstring; with ``announce`` the checkpoint and its step are printed.
    """
    if weights not in ("ema", "raw"):
        raise ConfigError(f"weights={weights!r} must be 'ema' or 'raw'")
    ckpt = resolve_checkpoint(path)
    checkpoint = read_checkpoint(ckpt)
    if announce:
        announce_checkpoint(ckpt, checkpoint)
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
