"""Ranges of model hyper-parameters: one rule per key, checked in every family's ``__init__``.

``config_check`` proves a value has the right *type* before anything is built; this module proves
it is in *range*, so that ``model.latent_dim=-4`` fails with
``model.latent_dim=-4 is not valid: must be >= 1`` instead of a tensor error deep in a network.
Every numeric key in ``configs/model/*.yaml`` has a rule here (``tests/test_validate.py`` checks
it); a new hyper-parameter gets a line in ``RULES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lightning_gen.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """``ok(value)`` is the check, ``must`` the text after "must be", ``bad`` a value it refuses."""

    ok: Callable[[Any], bool]
    must: str
    bad: Any


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def int_at_least(lo: int) -> Rule:
    return Rule(lambda v: _int(v) and v >= lo, f">= {lo} (an integer)", lo - 1)


def at_least(lo: float) -> Rule:
    return Rule(lambda v: _num(v) and v >= lo, f">= {lo:g}", lo - 1.0)


def positive() -> Rule:
    return Rule(lambda v: _num(v) and v > 0, "> 0", 0.0)


def interval(lo: float, hi: float, hi_open: bool = False, lo_open: bool = False) -> Rule:
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    return Rule(
        lambda v: _num(v) and (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi),
        f"in {left}{lo:g}, {hi:g}{right}",
        hi + 0.5,
    )


def widths() -> Rule:
    return Rule(
        lambda v: (
            isinstance(v, (list, tuple)) and len(v) > 0 and all(_int(w) and w >= 1 for w in v)
        ),
        "a non-empty list of integers >= 1",
        [32, 0],
    )


def betas() -> Rule:
    return Rule(
        lambda v: (
            isinstance(v, (list, tuple)) and len(v) == 2 and all(_num(b) and 0 <= b < 1 for b in v)
        ),
        "two numbers in [0, 1) (Adam's beta1, beta2)",
        [0.5, 1.5],
    )


RULES: dict[str, Rule] = {
    # data-given
    "num_classes": int_at_least(0),
    # sizes
    "latent_dim": int_at_least(1),
    "widths": widths(),
    "g_widths": widths(),
    "d_widths": widths(),
    "width": int_at_least(1),
    "downsamples": int_at_least(0),
    "blocks": int_at_least(0),
    "num_res_blocks": int_at_least(1),
    "hidden": int_at_least(1),
    "depth": int_at_least(1),
    "in_channels": int_at_least(1),
    "timesteps": int_at_least(2),
    "low_res_factor": int_at_least(1),
    "history_size": int_at_least(0),
    "n_critic": int_at_least(1),
    # optimisation
    "lr": positive(),
    "g_lr": positive(),
    "d_lr": positive(),
    "weight_decay": at_least(0.0),
    "betas": betas(),
    "ema_decay": interval(0.0, 1.0, hi_open=True),
    "grad_clip": at_least(0.0),
    # loss weights and probabilities
    "beta": at_least(0.0),
    "noise_level": interval(0.0, 1.0),
    "gp_weight": at_least(0.0),
    "r1_gamma": at_least(0.0),
    "cycle_weight": at_least(0.0),
    "identity_weight": at_least(0.0),
    "l1_weight": at_least(0.0),
    "dropout": interval(0.0, 1.0, hi_open=True),
    "label_dropout": interval(0.0, 1.0),
    "guidance_scale": at_least(0.0),
    "eta": interval(0.0, 1.0),
    "latent_scale": positive(),
    # Transformer family (VQ-VAE, VQ prior, language model, seq2seq)
    "code_dim": int_at_least(1),
    "codebook_size": int_at_least(2),
    "decay": interval(0.0, 1.0, hi_open=True, lo_open=True),
    "restart_after": int_at_least(0),
    "dim": int_at_least(1),
    "vocab_size": int_at_least(2),
    "block_size": int_at_least(1),
    "heads": int_at_least(1),
    "temperature": positive(),
    "warmup_steps": int_at_least(0),
    "beam_size": int_at_least(1),
    "top_k": int_at_least(1),
    "top_p": interval(0.0, 1.0),
}


def check_model_args(args: Mapping[str, Any], prefix: str = "model") -> None:
    """Check every argument that has a rule; ``ConfigError`` naming ``<prefix>.<key>=<value>``.

    Call as ``check_model_args(locals())`` on the first line of a family's ``__init__``: ``self``,
    private names, ``None`` (an unset option) and keys without a rule are passed over.
    """
    for key, value in args.items():
        rule = RULES.get(key)
        if rule is None or value is None or key.startswith("_"):
            continue
        value = _plain(value)
        shown = value = list(value) if isinstance(value, tuple) else value
        if not rule.ok(value):
            raise ConfigError(
                f"{prefix}.{key}={shown} is not valid: must be {rule.must}; "
                f"set {prefix}.{key}=<value> (see configs/model/)"
            )
    dim, heads = args.get("dim"), args.get("heads")
    if dim is not None and heads is not None and dim % heads:
        raise ConfigError(
            f"{prefix}.dim={dim} must be divisible by {prefix}.heads={heads} (each attention head "
            f"gets dim/heads channels); set {prefix}.dim to a multiple of {prefix}.heads"
        )
    shape = args.get("image_shape")
    if shape is not None and not (len(shape) == 3 and all(_int(s) and s >= 1 for s in shape)):
        raise ConfigError(
            f"{prefix}.image_shape={list(shape)} is not valid: must be (C, H, W) positive integers"
        )


def _plain(value: Any) -> Any:
    """OmegaConf ``ListConfig`` -> list (families may receive either)."""
    try:
        from omegaconf import ListConfig, OmegaConf

        if isinstance(value, ListConfig):
            return OmegaConf.to_container(value)
    except ImportError:  # pragma: no cover
        pass
    return value
