"""``GenerationMetrics``: FID, KID, IS and precision/recall for any model that can ``sample``.

Every ``every_n_epochs`` validation epochs (at every ``trainer.validate``, and at test) it draws
``protocol.num_samples`` images in seeded chunks (each DDP rank a distinct share) with the
protocol's sampling options, extracts features once, and logs ``val/fid``, ``val/kid_mean``,
``val/kid_std``, ``val/is_mean``, ``val/is_std``, ``val/precision``, ``val/recall`` (``test/...``
at test). Reference statistics come from the on-disk cache. Each evaluation also appends a
generation record (``metrics/protocol.py``: numbers, seconds, the full protocol including the
resolved sampler options, its key) to ``<run>/generation_metrics.jsonl``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info

from lightning_gen.contracts import CanSample, require, resolve_sampling
from lightning_gen.errors import ConfigError
from lightning_gen.metrics.extractor import FeatureExtractor, resolve_extractor
from lightning_gen.metrics.protocol import GenerationProtocol, make_record
from lightning_gen.metrics.reference import ReferenceCache, ReferenceStats
from lightning_gen.metrics.sampling import sample_features
from lightning_gen.rng import isolated_rng


class GenerationMetrics(L.Callback):
    """Score ``model.sample`` against cached real statistics; see the module docstring.

    ``protocol``: the ``metrics`` config group (``protocol: ${metrics}``), a ``GenerationProtocol``
    or a mapping of its fields. The callback itself only decides when to score.
    """

    def __init__(
        self,
        protocol: GenerationProtocol | Mapping[str, Any],
        cache_dir: str = ".cache/lightning_gen",
        every_n_epochs: int = 5,
        on_test: bool = True,
        strict: bool = True,
        filename: str = "generation_metrics.jsonl",
    ) -> None:
        if every_n_epochs < 1:
            raise ConfigError("generation_metrics.every_n_epochs must be >= 1")
        self.protocol = GenerationProtocol.of(protocol)
        self.cache_dir, self.every_n_epochs = cache_dir, every_n_epochs
        self.on_test, self.strict, self.filename = on_test, strict, filename
        self.active = False
        self.extractor: FeatureExtractor | None = None
        self.reference: ReferenceStats | None = None
        self.sampling: dict[str, Any] = {}
        self.cache = ReferenceCache(cache_dir)
        self.history: list[dict[str, Any]] = []
        self.timings: list[float] = []  # seconds per evaluation
        self.setup_seconds = 0.0  # extractor + reference statistics (cold: trained/extracted)

    # -- setup: extractor and reference statistics (rank 0 builds, then the others load) ----------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.active = require(pl_module, CanSample, "GenerationMetrics", self.strict)
        if not self.active:
            return
        try:  # the sampling options are checked before any extractor is trained
            self.sampling = resolve_sampling(pl_module, self.protocol.sampling)
        except ValueError as exc:
            raise ConfigError(f"metrics.sampling: {exc}") from exc
        if self.reference is not None:
            return
        dm = trainer.datamodule
        if dm is None or not hasattr(dm, "split_dataloader"):
            raise ConfigError(
                "GenerationMetrics needs an ImageDataModule (split_dataloader) for reference statistics"
            )
        p = self.protocol
        if p.num_samples < p.chunk_size * trainer.world_size:
            raise ConfigError(
                f"metrics.num_samples={p.num_samples} gives some of the {trainer.world_size} ranks no "
                f"chunk of {p.chunk_size}; lower metrics.chunk_size or raise metrics.num_samples"
            )
        for turn in (
            True,
            False,
        ):  # rank 0 first (trains/extracts and writes), then the others read
            if trainer.is_global_zero == turn:
                with isolated_rng():  # building/loading never shifts the training RNG stream
                    self._prepare(dm, trainer.strategy.root_device)
            trainer.strategy.barrier("generation_metrics_reference")

    def _prepare(self, dm: Any, device: torch.device) -> None:
        t0 = time.perf_counter()
        p = self.protocol
        self.extractor = resolve_extractor(p.extractor, dm, self.cache_dir).to(device)
        self.reference = self.cache.get(dm, self.extractor, p.reference_split, p.reference_count)
        self.scorer = p.scorer(self.extractor.num_features)
        how = "loaded from cache" if self.reference.from_cache else "computed and cached"
        self.setup_seconds = time.perf_counter() - t0
        rank_zero_info(
            f"GenerationMetrics: {self.reference.count} reference images ({p.reference_split}) {how} "
            f"with {self.extractor.name} in {self.setup_seconds:.1f}s"
        )

    def describe(self) -> dict[str, Any]:
        """The protocol recorded next to every number (``GenerationProtocol.describe``)."""
        assert self.extractor is not None and self.reference is not None
        return self.protocol.describe(self.extractor, self.reference, self.sampling)

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
        p = self.protocol
        self.extractor.to(pl_module.device)
        dm = trainer.datamodule
        weights = dm.label_counts(p.reference_split) if dm.num_classes else None
        with isolated_rng():  # observing never changes what training draws next
            feats, logits = sample_features(
                pl_module,
                self.extractor,
                p.num_samples,
                p.chunk_size,
                p.seed,
                trainer.global_rank,
                trainer.world_size,
                weights,
                self.sampling,
            )
            values = self.scorer.score(
                self.reference, feats, logits, trainer.is_global_zero, p.num_samples
            )
        pl_module.log_dict({f"{stage}/{k}": v for k, v in values.items()}, sync_dist=False)
        self.timings.append(time.perf_counter() - t0)
        record = make_record(
            stage,
            values,
            self.timings[-1],
            self.describe(),
            "callback",
            epoch=trainer.current_epoch,
            global_step=trainer.global_step,
        )
        self.history.append(record)
        if trainer.is_global_zero and trainer.default_root_dir:
            path = Path(trainer.default_root_dir) / self.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        return values
