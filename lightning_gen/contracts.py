"""The small contracts every family shares (see DESIGN.md).

Callbacks and reports check these with ``isinstance`` at ``setup`` and never read
a model's hyper-parameters. Images are float tensors ``(B, C, H, W)`` in ``[-1, 1]``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class HasLoss(Protocol):
    """A family's training objective as a public hook: ``loss(batch, *, generator=None)`` -> scalar.

    ``batch`` is what the family's DataModule yields (``(x, y)``); all randomness inside (noise,
    timesteps, latents) is drawn from ``generator`` when one is given, so two calls with
    generators seeded alike give the same value (for tests and evaluation of one fixed draw).
    """

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor: ...


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


def class_path(obj: object) -> str:
    """``module.Class`` of an object, e.g. ``lightning_gen.vae.module.VAE`` (what a checkpoint
    stores to name the class that made it: plain data, loadable with ``weights_only``)."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


@contextlib.contextmanager
def seeded_rng(
    generator: torch.Generator | None, device: torch.device | str = "cpu"
) -> Iterator[None]:
    """Within the block, torch's global RNG (CPU and ``device``) is seeded from ``generator`` and
    restored afterwards, so code drawing with ``torch.randn_like`` & co. is deterministic for a
    given generator and the caller's random stream is untouched. ``None``: the block runs as is."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield
