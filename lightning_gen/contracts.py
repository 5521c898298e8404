"""The small contracts every family shares (see DESIGN.md).

Callbacks and reports check these with ``isinstance`` at ``setup`` and never read
a model's hyper-parameters. Images are float tensors ``(B, C, H, W)`` in ``[-1, 1]``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
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
class IsClassConditional(Protocol):
    """A model that generates the class it is asked for: ``sample(n, condition=labels)`` with integer
    labels in ``[0, condition_classes)``; ``condition_classes`` is 0 for a model of a conditional-capable
    class that was trained without labels."""

    condition_classes: int


def condition_classes(model: object) -> int:
    """How many classes ``model`` can be asked for (0: it does not take a class label)."""
    return int(model.condition_classes) if isinstance(model, IsClassConditional) else 0


@runtime_checkable
class CanReconstruct(Protocol):
    """A model that reconstructs its input: ``reconstruct(x) -> x_hat`` of x's shape, in ``[-1, 1]``."""

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class CanEncode(Protocol):
    """A model with a latent space: ``encode(x) -> (B, D)`` latent codes (the mean for a VAE)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class CanGenerateText(Protocol):
    """Text models (language model, sequence-to-sequence): prompts in, decoded text out."""

    def generate_text(self, prompts: list[str], **options: Any) -> list[str]: ...


@runtime_checkable
class CanInpaint(Protocol):
    """A model that fills the pixels of ``known`` ``(B, C, H, W)`` where ``mask`` (1 = keep) is 0."""

    def inpaint(self, known: torch.Tensor, mask: torch.Tensor, **options: Any) -> torch.Tensor: ...


@runtime_checkable
class CanSuperResolve(Protocol):
    """A model that upscales images by ``low_res_factor``: ``super_resolve((B, C, H/f, W/f))``.

    ``low_res_factor`` is 1 for a model of this class that was not trained for super-resolution.
    """

    low_res_factor: int

    def super_resolve(self, low_res: torch.Tensor, **options: Any) -> torch.Tensor: ...


def sampling_options(model: object) -> dict[str, Any]:
    """The model's default sampling options as JSON primitives (``{}``: it has none to tune).

    A model with tunable sampling implements ``sampling_options() -> dict``; every key of it may
    be passed to ``model.sample(n, condition=..., **options)``.
    """
    fn = getattr(model, "sampling_options", None)
    return copy.deepcopy(dict(fn())) if callable(fn) else {}


def merge_options(defaults: dict[str, Any], overrides: dict[str, Any], where: str = "") -> dict:
    """``defaults`` updated with ``overrides``; ValueError naming any key the defaults lack.

    Nested dicts merge key by key, except an object spec (a dict with ``_target_``) whose
    ``_target_`` changes: it replaces the default spec as a whole (another class, other options).
    """
    out = copy.deepcopy(dict(defaults))
    for key, value in overrides.items():
        name = f"{where}{key}"
        if key not in out and not (where and "_target_" in out):
            raise ValueError(
                f"unknown sampling option {name!r}; this model takes {sorted(out) or 'none'}"
            )
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            target = value.get("_target_", old.get("_target_"))
            if target != old.get("_target_"):
                out[key] = copy.deepcopy(dict(value))
            else:
                out[key] = merge_options(old, value, f"{name}.")
        else:
            out[key] = value
    return out


def build_spec(spec: dict[str, Any], what: str = "sampler") -> Any:
    """Turn ``{"_target_": "module.Class", **kwargs}`` into ``Class(**kwargs)``.

    ValueError naming ``what`` when the class cannot be imported or rejects a keyword.
    """
    kwargs = {k: v for k, v in spec.items() if k != "_target_"}
    path = str(spec.get("_target_", ""))
    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"{what}._target_={path!r} cannot be imported ({exc})") from exc
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(
            f"{what}: {name} does not take the option(s) given ({exc}); options: {sorted(kwargs)}"
        ) from exc


def resolve_sampling(model: object, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The options to call ``model.sample`` with: its defaults merged with ``overrides``.

    Raises ValueError naming an unknown key (e.g. ``steps`` for a model without sampling options)
    and, for an object spec (``{"_target_": ...}``), an option its class does not take. An object
    spec is returned complete (the object's ``spec()``, defaults included) when it has one.
    """
    overrides = dict(overrides or {})
    defaults = sampling_options(model)
    if overrides and not defaults:
        raise ValueError(
            f"{type(model).__name__} has no sampling options; drop {sorted(overrides)} "
            "from the command (sampler, steps, eta and guidance_scale apply to diffusion models)"
        )
    options = merge_options(defaults, overrides)
    for key, value in options.items():
        if isinstance(value, dict) and "_target_" in value:
            obj = build_spec(value, key)  # fail now, naming the key, not after minutes of sampling
            if callable(getattr(obj, "spec", None)):
                options[key] = obj.spec()  # complete: every option recorded, defaults included
    return options


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
