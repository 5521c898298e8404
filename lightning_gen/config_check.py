"""Check config values against the signatures of their ``_target_`` before anything is built.

A wrong override such as ``trainer.max_epochs=abc`` then fails at once with the key, the
expected type and the target, instead of a traceback deep inside training.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, ListConfig, OmegaConf

from lightning_gen.errors import ConfigError

_SIMPLE = (int, float, bool, str)


def _type_name(t: Any) -> str:
    """Readable form of an annotation: ``int | None``, ``one of ['a', 'b']``."""
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(t))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(t))
    if t is type(None):
        return "None"
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def _accepts(annotation: Any, value: Any) -> bool | None:
    """True/False if ``value`` fits ``annotation``; None when the annotation is too complex to judge."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        verdicts = [_accepts(a, value) for a in typing.get_args(annotation)]
        return (
            True
            if any(v is True for v in verdicts)
            else (None if any(v is None for v in verdicts) else False)
        )
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return None


def check_node(node: Any, path: str) -> None:
    """Recursively check every ``_target_`` node under ``node`` (a DictConfig); raise ConfigError."""
    if isinstance(node, ListConfig):
        for i, item in enumerate(node):
            check_node(item, f"{path}[{i}]")
        return
    if not isinstance(node, DictConfig):
        return
    target = node.get("_target_") if "_target_" in node else None
    params: dict[str, inspect.Parameter] = {}
    if target:
        try:
            fn = get_method(target) if not isinstance(target, type) else target
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"{path}._target_={target!r} cannot be imported: {exc}") from None
        try:
            params = dict(inspect.signature(fn).parameters)
            hints = typing.get_type_hints(fn.__init__ if inspect.isclass(fn) else fn)
        except Exception:  # noqa: BLE001 - unresolvable hints: check names only
            hints = {}
        for name, p in params.items():
            if name in hints:
                params[name] = p.replace(annotation=hints[name])
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in node:
        if str(key).startswith("_"):
            continue
        child_path = f"{path}.{key}" if path else str(key)
        if target and params and key not in params and not takes_kwargs:
            valid = ", ".join(k for k in params if k not in ("self", "args", "kwargs"))
            raise ConfigError(
                f"{child_path}: {target} has no argument {key!r}; valid keys: {valid}"
            )
        value = (
            OmegaConf.select(node, str(key), throw_on_missing=False)
            if not OmegaConf.is_missing(node, key)
            else "???"
        )
        if value == "???":
            raise ConfigError(f"{child_path} is required but missing; set {child_path}=<value>")
        if isinstance(value, (DictConfig, ListConfig)):
            check_node(value, child_path)
        elif target and key in params and isinstance(value, (*_SIMPLE, type(None))):
            if _accepts(params[key].annotation, value) is False:
                want = _type_name(params[key].annotation)
                raise ConfigError(f"{child_path}={value!r} is not valid: {target} expects {want}")


def check_config(
    cfg: DictConfig, groups: tuple[str, ...] = ("data", "model", "callbacks", "logger", "trainer")
) -> None:
    """Check the instantiable groups of a composed train config; raise ConfigError naming the key."""
    for g in groups:
        if g in cfg and cfg[g] is not None:
            check_node(cfg[g], g)
