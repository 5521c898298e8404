"""Is a checkpoint compatible with the model we are about to train? Errors name what differs.

Every checkpoint written by ``lgen train`` carries ``checkpoint["lgen"]["model_class"]`` (the family's
import path, added by ``RunState``) next to Lightning's ``hyper_parameters``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch

from lightning_gen.contracts import class_path
from lightning_gen.errors import CheckpointError

META_KEY = "lgen"


def _plain(value: Any) -> Any:
    """Hyper-parameter values compared as plain data (tuples and lists are the same)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def hparam_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Lines ``name: checkpoint=<a> config=<b>`` for every hyper-parameter that differs."""
    keys = sorted(set(saved) | set(current))
    missing = object()
    out = []
    for k in keys:
        a, b = _plain(saved.get(k, missing)), _plain(current.get(k, missing))
        if a != b:
            fa = "<absent>" if a is missing else repr(a)
            fb = "<absent>" if b is missing else repr(b)
            out.append(f"{k}: checkpoint={fa} config={fb}")
    return out


def _shape_differences(saved: dict[str, torch.Tensor], model: L.LightningModule) -> list[str]:
    current = model.state_dict()
    out = [f"{k}: missing in checkpoint" for k in current if k not in saved]
    out += [f"{k}: unexpected in checkpoint" for k in saved if k not in current]
    out += [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(current[k].shape)}"
        for k, v in saved.items()
        if k in current and hasattr(v, "shape") and tuple(v.shape) != tuple(current[k].shape)
    ]
    return out


def check_compatible(ckpt: dict[str, Any], model: L.LightningModule, path: str | Path) -> None:
    """Raise ``CheckpointError`` if ``ckpt`` was made by another family or another model config.

    Compares the family class path, then every hyper-parameter, then parameter names/shapes.
    """
    saved_class = ckpt.get(META_KEY, {}).get("model_class")
    if saved_class and saved_class != class_path(model):
        raise CheckpointError(
            f"checkpoint {path} is of another family: it holds {saved_class}, this config builds "
            f"{class_path(model)}; pick the matching model=/experiment= or another checkpoint"
        )
    diffs = hparam_differences(dict(ckpt.get("hyper_parameters") or {}), dict(model.hparams))
    if diffs:
        raise CheckpointError(
            f"checkpoint {path} was made with another model config; differing hyper-parameters: "
            + "; ".join(diffs)
            + ". Resume with the run's own overrides (see its config.yaml)"
        )
    shapes = _shape_differences(ckpt["state_dict"], model)
    if shapes:
        shown = "; ".join(shapes[:5]) + (f" (+{len(shapes) - 5} more)" if len(shapes) > 5 else "")
        raise CheckpointError(f"checkpoint {path} does not fit this model's parameters: {shown}")
