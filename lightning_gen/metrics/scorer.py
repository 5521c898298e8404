"""One scorer for every family: FID, KID, IS (torchmetrics) and precision/recall on shared features.

Features are extracted once per image and handed to torchmetrics through an identity feature module
(``Precomputed``), so the three torchmetrics metrics do their own float64 statistics and DDP sync.
Real statistics come from the reference cache and are placed on rank 0 only (no duplicates);
``compute`` runs on every rank. Randomised parts (KID subsets, IS splits) are seeded by the protocol.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from lightning_gen.metrics.extractor import Precomputed
from lightning_gen.metrics.precision_recall import PrecisionRecall
from lightning_gen.metrics.reference import ReferenceStats


class GenerationScorer:
    """Scores generated features against reference statistics.

    ``score(reference, features, logits, rank_zero)`` takes this rank's generated features ``(n, D)``
    and logits ``(n, K)`` (or None: no IS) and returns ``{fid, kid_mean, kid_std, is_mean, is_std,
    precision, recall}`` computed over all ranks' features.
    """

    def __init__(
        self,
        num_features: int,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        is_splits: int = 10,
        pr_k: int = 3,
        pr_max_points: int = 5000,
        seed: int = 0,
    ) -> None:
        feat = Precomputed(num_features)
        self.fid = FrechetInceptionDistance(feature=feat, reset_real_features=True)
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", UserWarning
            )  # "KID/IS keep all features in memory": we know
            self.kid = KernelInceptionDistance(
                feature=feat, subsets=kid_subsets, subset_size=kid_subset_size
            )
            self.inception_score = InceptionScore(feature=Precomputed(0), splits=is_splits)
        self.pr = PrecisionRecall(k=pr_k, max_points=pr_max_points)
        self.kid_subset_size, self.seed = kid_subset_size, seed

    @property
    def metrics(self) -> list:
        return [self.fid, self.kid, self.inception_score, self.pr]

    def to(self, device: torch.device | str) -> GenerationScorer:
        for m in self.metrics:
            m.to(device)
        return self

    def _on_device(self, t: torch.Tensor, device: torch.device) -> torch.Tensor:
        """``t`` on ``device``, copied once per reference (so cached k-NN radii stay valid)."""
        if getattr(self, "_moved", (None, None))[0] is not t:
            self._moved = (t, t.to(device))
        return self._moved[1]

    def load_reference(self, ref: ReferenceStats, rank_zero: bool, device: torch.device) -> None:
        """Put the real statistics into the metrics' states: FID/KID on rank 0 only, PR everywhere."""
        n, d = ref.count, ref.features.shape[1]
        if rank_zero:
            mean, cov = ref.mean.to(device), ref.cov.to(device)
            self.fid.real_features_sum = mean * n
            self.fid.real_features_cov_sum = cov * (n - 1) + n * torch.outer(mean, mean)
            self.fid.real_features_num_samples = torch.tensor(n, dtype=torch.long, device=device)
            self.kid.update(ref.features.to(device), real=True)
        else:
            self.kid.update(
                torch.zeros(0, d, device=device), real=True
            )  # same list length on every rank
        self.pr.set_reference(
            ref.features if device.type == "cpu" else self._on_device(ref.features, device)
        )

    def score(
        self,
        ref: ReferenceStats,
        features: torch.Tensor,
        logits: torch.Tensor | None,
        rank_zero: bool = True,
        total_generated: int | None = None,
    ) -> dict[str, float]:
        """All metrics of this rank's ``features (n, D)`` (+ other ranks' under DDP) against ``ref``."""
        device = features.device
        for m in self.metrics:
            m.reset()
        self.to(device)
        self.load_reference(ref, rank_zero, device)
        total = total_generated or len(features)
        self.kid.subset_size = max(2, min(self.kid_subset_size, ref.count, total))
        self.fid.update(features, real=False)  # one update per rank: equal state lists across ranks
        self.kid.update(features, real=False)
        self.pr.update(features)
        out: dict[str, Any] = {}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            out["fid"] = self.fid.compute()
            out["kid_mean"], out["kid_std"] = self.kid.compute()
            out["precision"], out["recall"] = self.pr.compute()
            if logits is not None:
                self.inception_score.update(logits)
                out["is_mean"], out["is_std"] = self.inception_score.compute()
        for m in self.metrics:
            m.reset()
        return {k: float(v) for k, v in out.items()}
