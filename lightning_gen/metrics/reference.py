"""Reference statistics of real data, computed once and cached on disk with a fingerprint.

One file per (dataset, split, extractor, image size, protocol) under ``<cache_dir>/reference/``:
feature mean and covariance in float64 (FID), the real features (KID, precision/recall) and logits.
The file name carries a key of the whole protocol; inside, the fingerprint adds the data's content
hash and a checksum of the stored tensors. On load every field is compared: a stale file (data
changed, extractor retrained, truncated or edited file) is reported and rebuilt, never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info

from lightning_gen.fileio import load_cache, save_cache
from lightning_gen.metrics.data import content_hash, dataset_name, key_of, split_batches
from lightning_gen.metrics.extractor import FeatureExtractor
from lightning_gen.rng import isolated_rng


@dataclass
class ReferenceStats:
    """Real-data statistics: ``mean (D,)`` and ``cov (D, D)`` float64, ``features (N, D)``, ``logits (N, K)``."""

    mean: torch.Tensor
    cov: torch.Tensor
    features: torch.Tensor
    logits: torch.Tensor | None
    fingerprint: dict[str, Any]
    from_cache: bool = False

    @property
    def count(self) -> int:
        return int(self.features.shape[0])


def mean_cov(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``features (N, D)``."""
    f = features.double()
    mean = f.mean(0)
    d = f - mean
    return mean, d.T @ d / (len(f) - 1)


def tensor_checksum(*tensors: torch.Tensor | None) -> str:
    """A key of the bytes of some tensors (detects truncated or edited cache files)."""
    import hashlib

    h = hashlib.sha256()
    for t in tensors:
        if t is not None:
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def extract_split(
    extractor: FeatureExtractor,
    datamodule: Any,
    split: str,
    limit: int | None,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features ``(N, D)`` and logits ``(N, K)`` (or None) of the first ``limit`` images of a split, on CPU."""
    device = next(iter(extractor.parameters()), torch.zeros(())).device
    feats, logits = [], []
    for x, _ in split_batches(datamodule, split, limit, batch_size):
        f, lg = extractor(x.to(device))
        feats.append(f.cpu())
        if lg is not None:
            logits.append(lg.cpu())
    return torch.cat(feats), (torch.cat(logits) if logits else None)


class ReferenceCache:
    """Load-or-build reference statistics; ``built`` counts extractions (tests assert cache hits)."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.dir = Path(cache_dir) / "reference"
        self.built = 0

    def protocol(
        self, datamodule: Any, extractor: FeatureExtractor, split: str, limit: int | None
    ) -> dict[str, Any]:
        """The fingerprint without the data content (the file-name key)."""
        return {
            "dataset": dataset_name(datamodule),
            "image_shape": list(datamodule.image_shape),
            "split": split,
            "limit": limit,
            "extractor": extractor.identity(),
            "stats_dtype": "float64",
        }

    def path(self, protocol: dict[str, Any]) -> Path:
        c, h, w = protocol["image_shape"]
        name = (
            f"{protocol['dataset']}-{protocol['split']}-{protocol['extractor']['name']}-{c}x{h}x{w}"
        )
        return self.dir / f"{name}-{key_of(protocol)}.pt"

    @isolated_rng()
    def get(
        self,
        datamodule: Any,
        extractor: FeatureExtractor,
        split: str = "train",
        limit: int | None = None,
    ) -> ReferenceStats:
        """Cached statistics if the file's fingerprint matches this data and protocol, else rebuild them.

        Leaves the global RNG states as it found them (``isolated_rng``).
        """
        protocol = self.protocol(datamodule, extractor, split, limit)
        data_hash, n = content_hash(datamodule, split, limit)
        fingerprint = {**protocol, "data_hash": data_hash, "count": n}
        path = self.path(protocol)
        stats = self._load(path, fingerprint)
        if stats is not None:
            return stats
        feats, logits = extract_split(extractor, datamodule, split, limit)
        self.built += 1
        mean, cov = mean_cov(feats)
        stats = ReferenceStats(mean, cov, feats, logits, fingerprint)
        self._save(path, stats)
        return stats

    def _load(self, path: Path, fingerprint: dict[str, Any]) -> ReferenceStats | None:
        d = load_cache(path)  # None when missing or corrupt (warned, removed)
        if d is None:
            return None
        try:
            ok = d["fingerprint"] == fingerprint and d["checksum"] == tensor_checksum(
                d["mean"], d["cov"], d["features"], d["logits"]
            )
        except Exception as exc:  # noqa: BLE001 - any unreadable file is rebuilt
            ok, d = False, {"fingerprint": f"unreadable ({type(exc).__name__})"}
        if not ok:
            diff = _diff(d.get("fingerprint"), fingerprint)
            rank_zero_info(f"reference statistics {path.name} are stale ({diff}); rebuilding")
            return None
        return ReferenceStats(
            d["mean"], d["cov"], d["features"], d["logits"], fingerprint, from_cache=True
        )

    def _save(self, path: Path, s: ReferenceStats) -> None:
        blob = {
            "mean": s.mean,
            "cov": s.cov,
            "features": s.features,
            "logits": s.logits,
            "fingerprint": s.fingerprint,
            "checksum": tensor_checksum(s.mean, s.cov, s.features, s.logits),
        }
        save_cache(blob, path)  # atomic + fsync + checksum


def _diff(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return f"fingerprint {old}"
    keys = [k for k in new if old.get(k) != new[k]]
    return "changed: " + (", ".join(keys) if keys else "stored tensors' checksum")
