"""The generation-metric protocol and its record: one definition for the callback and ``lgen evaluate``.

``GenerationProtocol`` is what the ``metrics`` config group instantiates (``configs/metrics/``,
the one home of every default): the extractor, the real reference images, how many images are
generated and how (seed, chunking, the sampling options handed to ``model.sample``) and the
scorer's settings. ``make_record`` writes one record format, used by the callback's
``<run>/generation_metrics.jsonl`` and by ``lgen evaluate``'s ``metrics.json``::

    {"stage", "epoch", "global_step", "values": {"val/fid": ...}, "seconds",
     "protocol": {...}, "protocol_key": "<16 hex>", "source": "callback"|"evaluate", "checkpoint"}

Two numbers are comparable exactly when their ``protocol_key`` is equal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightning_gen.errors import ConfigError
from lightning_gen.metrics.extractor import FeatureExtractor
from lightning_gen.metrics.reference import ReferenceStats
from lightning_gen.metrics.scorer import GenerationScorer


@dataclass
class GenerationProtocol:
    """What is sampled, how, how many, against which reference, with which extractor.

    No field has a default here: they all come from the ``metrics`` config group. ``sampling``
    holds overrides of the model's own sampling options (``{}``: its defaults), e.g.
    ``{"sampler": {"steps": 20}}``; the resolved options are recorded with every number.
    """

    extractor: Any  # a spec with build(datamodule, cache_dir), or a FeatureExtractor (tests)
    num_samples: int
    chunk_size: int
    reference_split: str
    reference_count: int | None
    seed: int
    kid_subsets: int
    kid_subset_size: int
    is_splits: int
    pr_k: int
    pr_max_points: int
    sampling: dict[str, Any] = field(default_factory=dict)
    # how often the callback scores (every n-th validation epoch): a schedule, not part of the record
    every_n_epochs: int = 5

    def __post_init__(self) -> None:
        if self.num_samples < 2 or self.chunk_size < 1:
            raise ConfigError(
                f"metrics.num_samples={self.num_samples} must be >= 2 and "
                f"metrics.chunk_size={self.chunk_size} >= 1"
            )
        if not isinstance(self.sampling, Mapping):
            raise ConfigError(
                f"metrics.sampling must be a mapping of options, got {self.sampling!r}"
            )
        self.sampling = dict(self.sampling)

    @classmethod
    def of(cls, value: GenerationProtocol | Mapping[str, Any]) -> GenerationProtocol:
        """A protocol from itself or from the ``metrics`` group as a mapping."""
        if isinstance(value, cls):
            return value
        return cls(**{k: v for k, v in dict(value).items() if k != "_target_"})

    def scorer(self, num_features: int) -> GenerationScorer:
        """The scorer with this protocol's KID/IS/PR settings and seed."""
        return GenerationScorer(
            num_features,
            self.kid_subsets,
            self.kid_subset_size,
            self.is_splits,
            self.pr_k,
            self.pr_max_points,
            self.seed,
        )

    def describe(
        self,
        extractor: FeatureExtractor,
        reference: ReferenceStats,
        sampling: dict[str, Any],
        num_samples: int | None = None,
    ) -> dict[str, Any]:
        """The protocol as recorded (JSON primitives): ``sampling`` = the resolved options used."""
        fp = reference.fingerprint
        return {
            "extractor": extractor.identity(),
            "dataset": fp["dataset"],
            "image_shape": list(fp["image_shape"]),
            "reference_split": fp["split"],
            "reference_count": fp["count"],
            "reference_data_hash": fp["data_hash"],
            "stats_dtype": fp["stats_dtype"],
            "num_samples": self.num_samples if num_samples is None else num_samples,
            "chunk_size": self.chunk_size,
            "seed": self.seed,
            "kid_subsets": self.kid_subsets,
            "kid_subset_size": self.kid_subset_size,
            "is_splits": self.is_splits,
            "pr_k": self.pr_k,
            "pr_max_points": self.pr_max_points,
            "sampling": sampling,
        }


def protocol_key(protocol: dict[str, Any]) -> str:
    """16 hex digits of sha256 of the protocol as sorted JSON: equal keys, comparable numbers."""
    text = json.dumps(protocol, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_record(
    stage: str,
    values: dict[str, float],
    seconds: float,
    protocol: dict[str, Any],
    source: str,
    *,
    epoch: int | None = None,
    global_step: int | None = None,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """One generation record (module docstring); ``values`` keys are prefixed with ``stage/``."""
    return {
        "stage": stage,
        "epoch": epoch,
        "global_step": global_step,
        "values": {f"{stage}/{k}": float(v) for k, v in values.items()},
        "seconds": round(float(seconds), 3),
        "protocol": protocol,
        "protocol_key": protocol_key(protocol),
        "source": source,
        "checkpoint": checkpoint,
    }


def sampling_overrides(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling overrides from a command's config: ``sampling`` plus the shorthands
    ``sampler=<configs/sampler name>``, ``steps``, ``eta`` (sampler options), ``guidance_scale`` and the token-sampling options
    ``temperature``, ``top_k``, ``top_p`` (VQ prior).
    """
    over = dict(cfg.get("sampling") or {})
    sampler = dict(over.pop("sampler", None) or {})
    if cfg.get("sampler"):
        sampler = {**dict(cfg["sampler"]), **sampler}
    for key in ("steps", "eta"):
        if cfg.get(key) is not None:
            sampler[key] = cfg[key]
    if sampler:
        over["sampler"] = sampler
    for key in (
        "guidance_scale",
        "temperature",
        "top_k",
        "top_p",
    ):  # the last three: token samplers
        if cfg.get(key) is not None:
            over[key] = cfg[key]
    return over
