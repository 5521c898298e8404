"""What a feature extractor is, and how a config entry becomes one.

An extractor maps ``uint8`` images ``(B, C, H, W)`` in ``[0, 255]`` to ``(features (B, D) float32,
logits (B, K) float32 or None)``. FID, KID and precision/recall use the features, IS the logits.
Its ``identity()`` (name, weights checksum, resize mode...) is recorded with every number and is
part of the reference-cache key.

A config entry (``metrics.extractor``) is a *spec*: a small object with primitive arguments and a
``build(datamodule, cache_dir)`` method, so that nothing heavy is imported or trained until chosen.
Tests inject a ready ``FeatureExtractor`` instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


class FeatureExtractor(nn.Module):
    """Base class: subclasses set ``name``/``num_features`` and implement ``extract``."""

    name: str = "extractor"
    num_features: int = 0

    def identity(self) -> dict[str, Any]:
        """What defines the features (recorded with the numbers; part of the cache key)."""
        return {
            "name": self.name,
            "checksum": weights_checksum(self),
            "num_features": self.num_features,
        }

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``uint8 (B, C, H, W)`` -> ``(features (B, D), logits (B, K) or None)``."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if images.dtype != torch.uint8:
            raise TypeError(f"{self.name} expects uint8 images; use lightning_gen.images.to_uint8")
        with torch.no_grad():
            return self.extract(images)


@runtime_checkable
class ExtractorSpec(Protocol):
    """A config entry that builds an extractor for a dataset (training or loading it as needed)."""

    def build(self, datamodule: Any, cache_dir: str | Path) -> FeatureExtractor: ...


def weights_checksum(module: nn.Module) -> str:
    """sha256 (first 16 hex digits) of a module's parameters and buffers, in state-dict order."""
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def resolve_extractor(obj: Any, datamodule: Any, cache_dir: str | Path) -> FeatureExtractor:
    """A ready extractor from a spec (``build``) or an injected ``FeatureExtractor``."""
    if isinstance(obj, FeatureExtractor):
        return obj
    if isinstance(obj, ExtractorSpec):
        return obj.build(datamodule, cache_dir)
    raise TypeError(
        f"metrics.extractor must be a FeatureExtractor or have build(datamodule, cache_dir); got {type(obj).__name__}"
    )


class Precomputed(nn.Module):
    """The identity as a torchmetrics 'feature module': the metrics receive features we extracted once."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
