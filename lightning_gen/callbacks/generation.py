"""``GenerationMetrics``: FID, KID, IS and precision/recall for any model that can ``sample``.

Every ``every_n_epochs`` validation epochs (at every ``trainer.validate``, and at test) it draws ``num_samples`` images in seeded
chunks (each DDP rank a distinct share), extracts features once, and logs ``val/fid``,
``val/kid_mean``, ``val/kid_std``, ``val/is_mean``, ``val/is_std``, ``val/precision``,
``val/recall`` (``test/...`` at test). Reference statistics come from the on-disk cache. Each
evaluation also appends its numbers with the full protocol to ``<run>/generation_metrics.jsonl``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info

from lightning_gen.contracts import CanSample, require
from lightning_gen.errors import ConfigError
from lightning_gen.metrics.extractor import FeatureExtractor, resolve_extractor
from lightning_gen.metrics.reference import ReferenceCache, ReferenceStats
from lightning_gen.metrics.sampling import sample_features
from lightning_gen.metrics.scorer import GenerationScorer
from lightning_gen.rng import isolated_rng


class GenerationMetrics(L.Callback):
    """Score ``model.sample`` against cached real statistics; see the module docstring.

    ``extractor``: a spec with ``build(datamodule, cache_dir)`` (from ``metrics=...``) or a ready
    ``FeatureExtractor`` (tests). ``reference_split``/``reference_count``: the real images (count
    None = the whole split). ``seed`` fixes the generated set, so epochs differ only by the model.
    """

    def __init__(
        self,
        extractor: Any,
        cache_dir: str = ".cache/lightning_gen",
        num_samples: int = 2000,
        chunk_size: int = 250,
        every_n_epochs: int = 5,
        reference_split: str = "train",
        reference_count: int | None = None,
        seed: int = 0,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        is_splits: int = 10,
        pr_k: int = 3,
        pr_max_points: int = 5000,
        on_test: bool = True,
        strict: bool = True,
        filename: str = "generation_metrics.jsonl",
    ) -> None:
        if num_samples < 2 or chunk_size < 1 or every_n_epochs < 1:
            raise ConfigError(
                "generation_metrics: num_samples >= 2, chunk_size >= 1 and every_n_epochs >= 1 are required"
            )
        self.extractor_spec, self.cache_dir = extractor, cache_dir
        self.num_samples, self.chunk_size, self.every_n_epochs = (
            num_samples,
            chunk_size,
            every_n_epochs,
        )
        self.reference_split, self.reference_count, self.seed = (
            reference_split,
            reference_count,
            seed,
        )
        self.scorer_args = {
            "kid_subsets": kid_subsets,
            "kid_subset_size": kid_subset_size,
            "is_splits": is_splits,
            "pr_k": pr_k,
            "pr_max_points": pr_max_points,
            "seed": seed,
        }
        self.on_test, self.strict, self.filename = on_test, strict, filename
        self.active = False
        self.extractor: FeatureExtractor | None = None
        self.reference: ReferenceStats | None = None
        self.cache = ReferenceCache(cache_dir)
        self.history: list[dict[str, Any]] = []
        self.timings: list[float] = []  # seconds per evaluation
        self.setup_seconds = 0.0  # extractor + reference statistics (cold: trained/extracted)

    # -- setup: extractor and reference statistics (rank 0 builds, then the others load) ----------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.active = require(pl_module, CanSample, "GenerationMetrics", self.strict)
        if not self.active or self.reference is not None:
            return
        dm = trainer.datamodule
        if dm is None or not hasattr(dm, "split_dataloader"):
            raise ConfigError(
                "GenerationMetrics needs an ImageDataModule (split_dataloader) for reference statistics"
            )
        if self.num_samples < self.chunk_size * trainer.world_size:
            raise ConfigError(
                f"generation_metrics.num_samples={self.num_samples} gives some of the {trainer.world_size} ranks no "
                f"chunk of {self.chunk_size}; lower chunk_size or raise num_samples"
            )
        for turn in (
            True,
            False,
        ):  # rank 0 first (trains/extracts and writes), then everyone else reads
            if trainer.is_global_zero == turn:
                with isolated_rng():  # building/loading never shifts the training RNG stream
                    self._prepare(dm, trainer.strategy.root_device)
            trainer.strategy.barrier("generation_metrics_reference")

    def _prepare(self, dm: Any, device: torch.device) -> None:
        t0 = time.perf_counter()
        self.extractor = resolve_extractor(self.extractor_spec, dm, self.cache_dir).to(device)
        self.reference = self.cache.get(
            dm, self.extractor, self.reference_split, self.reference_count
        )
        self.scorer = GenerationScorer(self.extractor.num_features, **self.scorer_args)
        how = "loaded from cache" if self.reference.from_cache else "computed and cached"
        self.setup_seconds = time.perf_counter() - t0
        rank_zero_info(
            f"GenerationMetrics: {self.reference.count} reference images ({self.reference_split}) {how} "
            f"with {self.extractor.name} in {self.setup_seconds:.1f}s"
        )

    def protocol(self, dm: Any = None) -> dict[str, Any]:
        """The measurement protocol recorded next to every number (and part of the cache key)."""
        assert self.reference is not None
        fp = self.reference.fingerprint
        return {
            "extractor": fp["extractor"],
            "reference_split": fp["split"],
            "reference_count": fp["count"],
            "reference_data_hash": fp["data_hash"],
            "stats_dtype": fp["stats_dtype"],
            "dataset": fp["dataset"],
            "image_shape": fp["image_shape"],
            "num_generated": self.num_samples,
            "chunk_size": self.chunk_size,
            "seed": self.seed,
            **{k: v for k, v in self.scorer_args.items() if k != "seed"},
        }

    # -- hooks ----------------------------------------------------------------------------------------
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.active or trainer.sanity_checking:
            return
        scheduled = (trainer.current_epoch + 1) % self.every_n_epochs == 0
        if (
            scheduled or trainer.state.fn == TrainerFn.VALIDATING
        ):  # `trainer.validate` always scores
            self.evaluate(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and self.on_test:
            self.evaluate(trainer, pl_module, "test")

    def evaluate(
        self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str
    ) -> dict[str, float]:
        """Sample, extract, score and log now. Runs on every rank (compute syncs states)."""
        t0 = time.perf_counter()
        assert self.extractor is not None and self.reference is not None
        self.extractor.to(pl_module.device)
        weights = (
            trainer.datamodule.label_counts(self.reference_split)
            if trainer.datamodule.num_classes
            else None
        )
        with isolated_rng():  # observing never changes what training draws next
            feats, logits = sample_features(
                pl_module,
                self.extractor,
                self.num_samples,
                self.chunk_size,
                self.seed,
                trainer.global_rank,
                trainer.world_size,
                weights,
            )
            values = self.scorer.score(
                self.reference, feats, logits, trainer.is_global_zero, self.num_samples
            )
        pl_module.log_dict({f"{stage}/{k}": v for k, v in values.items()}, sync_dist=False)
        self.timings.append(time.perf_counter() - t0)
        record = {
            "stage": stage,
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            **values,
            "seconds": round(self.timings[-1], 3),
            "protocol": self.protocol(),
        }
        self.history.append(record)
        if trainer.is_global_zero and trainer.default_root_dir:
            path = Path(trainer.default_root_dir) / self.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        return values
