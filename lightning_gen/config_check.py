"""Check config values against the signatures of their ``_target_`` before anything is built.

A wrong override such as ``trainer.max_epochs=abc`` then fails at once with the key, the
expected type and the target, instead of a traceback deep inside training.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, ListConfig, OmegaConf

from lightning_gen.errors import ConfigError

_LISTS = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence)
_DICTS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _type_name(t: Any) -> str:
    """Readable form of an annotation: ``int | None``, ``one of 'a', 'b'``, ``list[int]``."""
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(t))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(t))
    if origin in _LISTS:  # YAML has lists only: Sequence[int] / tuple[int, ...] read as list[int]
        args = [a for a in typing.get_args(t) if a is not Ellipsis]
        return f"list[{_type_name(args[0])}]" if len(set(args)) == 1 else "list"
    if origin in _DICTS:
        args = typing.get_args(t)
        return f"dict[{_type_name(args[0])}, {_type_name(args[1])}]" if args else "dict"
    if t is type(None):
        return "None"
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def _accepts(annotation: Any, value: Any) -> bool | None:
    """True/False if ``value`` fits ``annotation``; None when the annotation is too complex to judge.

    Lists and dicts are judged on their items (``Sequence[int]``, ``tuple[float, ...]``,
    ``dict[str, int]``); ``_mismatch`` finds the item that does not fit.
    """
    return _mismatch(annotation, value, "") is None if _judgeable(annotation) else None


def _judgeable(annotation: Any) -> bool:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return all(_judgeable(a) for a in typing.get_args(annotation))
    if origin is typing.Literal or annotation in (type(None), bool, int, float, str):
        return True
    if origin in _LISTS:
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return bool(args) and all(_judgeable(a) for a in args)
    if origin in _DICTS:
        args = typing.get_args(annotation)
        return len(args) == 2 and _judgeable(args[1])
    return False


def _mismatch(annotation: Any, value: Any, path: str) -> tuple[str, Any] | None:
    """``(path, value)`` of the first (innermost) part of ``value`` that does not fit a judgeable
    ``annotation``; None when it fits. ``path`` grows by ``[i]`` / ``.key`` into lists and dicts."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found = [_mismatch(a, value, path) for a in typing.get_args(annotation)]
        if any(f is None for f in found):
            return None
        # a list that fits no member: name its deepest wrong item (the most useful message)
        return max(found, key=lambda f: len(f[0]))  # type: ignore[arg-type,return-value]
    if origin is typing.Literal:
        return None if value in typing.get_args(annotation) else (path, value)
    if annotation is type(None):
        return None if value is None else (path, value)
    if annotation is bool:
        return None if isinstance(value, bool) else (path, value)
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else (path, value)
    if annotation is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else (path, value)
    if annotation is str:
        return None if isinstance(value, str) else (path, value)
    if origin in _LISTS:
        if not isinstance(value, (list, tuple, ListConfig)):
            return (path, value)
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        fixed = origin is tuple and Ellipsis not in typing.get_args(annotation)
        if fixed and len(value) != len(args):
            return (path, value)
        for i, item in enumerate(value):
            wrong = _mismatch(args[i] if fixed else args[0], item, f"{path}[{i}]")
            if wrong is not None:
                return wrong
        return None
    if origin in _DICTS:
        if not isinstance(value, (dict, DictConfig)):
            return (path, value)
        for k, item in value.items():
            wrong = _mismatch(typing.get_args(annotation)[1], item, f"{path}.{k}")
            if wrong is not None:
                return wrong
        return None
    return None


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value


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
        annotation = params[key].annotation if target and key in params else Any
        if _judgeable(annotation):
            wrong = _mismatch(annotation, _plain(value), child_path)
            if wrong is not None:
                want = _type_name(annotation)
                raise ConfigError(
                    f"{wrong[0]}={wrong[1]!r} is not valid: {target} expects {want} for {key}"
                    if wrong[0] != child_path
                    else f"{child_path}={wrong[1]!r} is not valid: {target} expects {want}"
                )
        if isinstance(value, (DictConfig, ListConfig)):
            check_node(value, child_path)


def check_group(group: DictConfig | None, name: str) -> None:
    """Every non-null entry of a named group (``callbacks``, ``logger``) must be a node with a
    ``_target_``; a node without one (e.g. settings merged onto a callback that was not chosen)
    is an error naming the key, never silently skipped. ``null`` drops an entry on purpose."""
    if group is None:
        return
    if not isinstance(group, DictConfig):
        raise ConfigError(f"{name} must be a mapping of named entries, got {group!r}")
    for key in group:
        node = group[key]
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            keys = ", ".join(map(str, node.keys())) if isinstance(node, DictConfig) else repr(node)
            raise ConfigError(
                f"{name}.{key} has no _target_ (it holds: {keys}): settings for an entry that "
                f"was not chosen. Choose the option that defines it, set {name}.{key}=null to "
                "drop it, or remove these settings"
            )


def check_config(
    cfg: DictConfig,
    groups: tuple[str, ...] = ("data", "model", "callbacks", "logger", "trainer", "perf"),
) -> None:
    """Check the instantiable groups of a composed train config; raise ConfigError naming the key.

    ``callbacks`` and ``logger`` entries must each have a ``_target_`` (see ``check_group``).
    """
    for g in groups:
        if g in cfg and cfg[g] is not None:
            if g in ("callbacks", "logger"):
                check_group(cfg[g], g)
            check_node(cfg[g], g)
