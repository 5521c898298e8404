"""The small contracts every family shares (see DESIGN.md).

Callbacks and reports check these with ``isinstance`` at ``setup`` and never read
a model's hyper-parameters. Images are float tensors ``(B, C, H, W)`` in ``[-1, 1]``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class CanSample(Protocol):
    """A model that generates: ``sample(n, condition=None) -> (n, C, H, W)`` in ``[-1, 1]``."""

    def sample(self, n: int, *, condition: Any = None) -> torch.Tensor: ...


@runtime_checkable
class CanReconstruct(Protocol):
    """A model that reconstructs its input: ``reconstruct(x) -> x_hat`` of x's shape, in ``[-1, 1]``."""

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class CanEncode(Protocol):
    """A model with a latent space: ``encode(x) -> (B, D)`` latent codes (the mean for a VAE)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


def require(model: object, protocol: type, who: str, strict: bool = True) -> bool:
    """Check that ``model`` implements ``protocol``.

    Returns True if it does. Otherwise raises a clear TypeError when ``strict``, or prints a
    one-line notice and returns False (the callback then does nothing for this run).
    """
    if isinstance(model, protocol):
        return True
    if not strict:
        from lightning.pytorch.utilities import rank_zero_info

        rank_zero_info(
            f"{who}: {type(model).__name__} does not implement {protocol.__name__}; skipped."
        )
        return False
    methods = [m for m in ("sample", "reconstruct", "encode") if m in protocol.__dict__]
    raise TypeError(
        f"{who} needs a model that implements {protocol.__name__} "
        f"(method(s) {', '.join(methods)}); {type(model).__name__} does not. "
        f"Remove {who} from the callbacks of this run or use a model that provides it."
    )
