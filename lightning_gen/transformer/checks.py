"""Validation of the numeric hyper-parameters of the Transformer, VQ-VAE and text families.

Errors are ``ModelArgError`` (both a ``ConfigError``, so ``lgen`` prints one line, and a
``ValueError``) and name the config key, the value and the valid range.
"""

from __future__ import annotations

from lightning_gen.errors import ConfigError


class ModelArgError(ConfigError, ValueError):
    """A model hyper-parameter is out of its valid range."""


def check_positive(allow_zero: bool = False, prefix: str = "model", **values: float | int) -> None:
    """Raise ModelArgError unless every value is > 0 (>= 0 with ``allow_zero``)."""
    for key, v in values.items():
        bad = (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or (v < 0 if allow_zero else v <= 0)
        )
        if bad:
            need = ">= 0" if allow_zero else "> 0"
            raise ModelArgError(f"{prefix}.{key}={v!r} must be a number {need}")


def check_fraction(prefix: str = "model", **values: float) -> None:
    """Raise ModelArgError unless every value is in ``[0, 1)``."""
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ModelArgError(f"{prefix}.{key}={v!r} must be in [0, 1)")


def check_heads(dim: int, heads: int) -> None:
    """``dim`` must split evenly into ``heads`` attention heads."""
    check_positive(dim=dim, heads=heads)
    if dim % heads:
        raise ModelArgError(f"model.dim={dim} must be divisible by model.heads={heads}")
