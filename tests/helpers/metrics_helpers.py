"""Test helpers for the metrics tests: an injectable extractor and tiny models (no download)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from lightning_gen.images import from_uint8
from lightning_gen.metrics.extractor import FeatureExtractor


class ProjectionExtractor(FeatureExtractor):
    """A fixed random projection of the pixels (features) and a fixed linear 'classifier' (logits).

    ``calls``/``images`` count every extraction, so tests can assert cache hits.
    """

    name = "projection"

    def __init__(
        self, image_shape: tuple[int, int, int], num_features: int = 16, num_classes: int = 10
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(123)
        d_in = int(torch.tensor(image_shape).prod())
        self.proj = nn.Parameter(
            torch.randn(d_in, num_features, generator=g) / d_in**0.5, requires_grad=False
        )
        self.cls = nn.Parameter(
            torch.randn(num_features, num_classes, generator=g), requires_grad=False
        )
        self.num_features, self.calls, self.images = num_features, 0, 0

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        self.images += len(images)
        f = from_uint8(images).flatten(1) @ self.proj  # (B, D)
        return f, f @ self.cls


class ReplaySampler(L.LightningModule):
    """A 'generator' that returns real images from a bank, chosen by the global RNG (seed-sensitive).

    Records the labels it was asked for. ``sample(n, condition=None) -> (n, C, H, W)`` in [-1, 1].
    """

    def __init__(self, bank: torch.Tensor, noise: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("bank", bank)
        self.noise = noise
        self.seen_labels: list[torch.Tensor] = []

    def sample(self, n: int, *, condition: Any = None) -> torch.Tensor:
        if condition is not None:
            self.seen_labels.append(condition.cpu())
        idx = torch.randint(0, len(self.bank), (n,))
        return (self.bank[idx] + self.noise * torch.randn_like(self.bank[idx])).clamp(-1, 1)


def make_protocol(extractor: Any, **overrides: Any):
    """A ``GenerationProtocol`` with the defaults of ``configs/metrics/classifier.yaml`` (the one
    home of every default), ``extractor`` injected and ``overrides`` applied."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from lightning_gen.metrics.protocol import GenerationProtocol

    path = Path(__file__).parents[2] / "configs" / "metrics" / "classifier.yaml"
    values = OmegaConf.to_container(OmegaConf.load(path).metrics)
    values.pop("_target_")
    return GenerationProtocol(**{**values, "extractor": extractor, **overrides})
