"""``lgen analyze`` options: typed, with their defaults in this one place.

The dataclasses are the schema of ``configs/analyze.yaml`` (stored in Hydra's ConfigStore as
``analyze_schema`` by ``register_configs``), so a wrong type (``denoising.level=abc``) or an
unknown key fails when the config is composed, naming the key. Each task reads its own section
plus ``split`` and ``max_images`` (``task_options``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf


@dataclass
class CompressionOptions:
    bits: list[int] = field(default_factory=lambda: [2, 4, 8])  # bit depths per latent dim


@dataclass
class DenoisingOptions:
    noise: str = (
        "gaussian"  # a noise model of autoencoder/noise.py: gaussian|salt_and_pepper|masking
    )
    level: float = 0.4
    seed: int = 0
    examples: int = 8  # rows of (clean, noisy, denoised) in denoising.png


@dataclass
class AnomalyOptions:
    score: str = "mse"  # reconstruction error used as the score: mse | l1 | bce
    # null: the classes the training data held out (data.source = ExcludeClasses); or a list
    # of classes whose images in the analysed split count as anomalies
    classes: list[int] | None = None


@dataclass
class LatentOptions:
    method: str = "pca"  # pca | tsne
    max_images: int | None = 1000  # images projected (null: the top-level max_images, else 1000)
    pairs: int = 8
    steps: int = 10
    seed: int = 0


@dataclass
class AnalyzeOptions:
    """The whole ``lgen analyze`` config (``data``, ``paths`` are config groups)."""

    ckpt: str = MISSING  # a run folder or a .ckpt file
    model_target: str | None = None  # class to load with; null: model._target_ of config.yaml
    tasks: list[str] = field(
        default_factory=lambda: ["compression", "denoising", "anomaly", "latent"]
    )
    # false: a task that does not apply is recorded as {"skipped": reason}; true: it stops
    strict: bool = False
    split: str = "test"
    max_images: int | None = None  # cap on the analysed images (null: all)
    device: str = "cpu"
    name: str = "analyze"
    seed: int = 42
    compression: CompressionOptions = field(default_factory=CompressionOptions)
    denoising: DenoisingOptions = field(default_factory=DenoisingOptions)
    anomaly: AnomalyOptions = field(default_factory=AnomalyOptions)
    latent: LatentOptions = field(default_factory=LatentOptions)
    data: Any = None
    paths: Any = None


def register_configs() -> None:
    """Store the schema as ``analyze_schema`` in Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="analyze_schema", node=AnalyzeOptions)


def task_options(cfg: DictConfig, task: str) -> dict[str, Any]:
    """The options of one task: its section plus the shared ``split`` and ``max_images``."""
    section = OmegaConf.to_container(cfg[task], resolve=True) if task in cfg else {}
    return {"split": cfg.split, "max_images": cfg.max_images, **section}
