"""Small helpers shared by callbacks: calling contract methods with an optional condition."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch


def takes_condition(fn: Callable) -> bool:
    """True if ``fn`` accepts a ``condition`` argument (conditional models)."""
    try:
        return "condition" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def call_with_condition(fn: Callable, x: Any, condition: torch.Tensor | None) -> torch.Tensor:
    """Call ``fn(x, condition=...)`` when it takes a condition and one is given, else ``fn(x)``."""
    if condition is not None and takes_condition(fn):
        return fn(x, condition=condition)
    return fn(x)
