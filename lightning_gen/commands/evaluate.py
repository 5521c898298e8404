"""``lgen evaluate``: score a checkpoint, or a folder / ``.npz`` of generated images, against a dataset.

Writes ``<output_dir>/metrics.json``: every number with the sample count, seed and extractor next to
it, plus the full protocol. Same pipeline (extractor, reference cache, scorer) as the training
callback, so the numbers are comparable with ``val/fid`` etc. of any run.

    lgen evaluate data=mnist checkpoint=runs/vae_mnist/<stamp>/checkpoints/last.ckpt
    lgen evaluate data=mnist images=samples.npz metrics.num_samples=5000
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from lightning_gen.callbacks.metrics_file import write_json_atomic
from lightning_gen.checkpoints import load_model
from lightning_gen.cli_errors import user_errors
from lightning_gen.contracts import CanSample
from lightning_gen.data.arrays import load_image_array
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.metrics.extractor import resolve_extractor
from lightning_gen.metrics.reference import ReferenceCache
from lightning_gen.metrics.sampling import extract_images, sample_features
from lightning_gen.metrics.scorer import GenerationScorer
from lightning_gen.reliability.run_dir import check_writable


def load_generator(checkpoint: str, model_target: str | None = None) -> Any:
    """A model that samples, from a ``.ckpt`` (or a run folder: its ``checkpoints/last.ckpt``)."""
    model = load_model(checkpoint, model_target=model_target)
    if not isinstance(model, CanSample):
        raise CheckpointError(
            f"{type(model).__name__} does not implement sample(n, condition=None); nothing to score"
        )
    return model


def load_images(path: str, value_range: Any = None, image_shape: Any = None) -> torch.Tensor:
    """Checked ``uint8 (N, C, H, W)`` images (see ``lightning_gen.data.arrays.load_image_array``)."""
    return load_image_array(path, value_range, image_shape)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score the generator or images named in ``cfg``; returns (and writes) the metrics record."""
    m = cfg.metrics
    if bool(cfg.get("checkpoint")) == bool(cfg.get("images")):
        raise ConfigError(
            "pass exactly one of checkpoint=<.ckpt or run folder> and images=<folder or .npz>"
        )
    out = Path(cfg.get("output") or Path(cfg.paths.output_dir) / "metrics.json")
    check_writable(out.parent)  # a read-only folder: one clear line before any work
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    if cfg.get("images"):  # checked before the (slow) feature extractor is built
        images = load_images(cfg.images, cfg.get("range"), dm.image_shape)
    elif cfg.get("range") is not None:
        raise ConfigError("range= applies to images=<.npz>; a checkpoint's samples are in [-1, 1]")
    extractor = resolve_extractor(
        hydra.utils.instantiate(m.extractor, _convert_="all"), dm, cfg.paths.cache_dir
    )
    extractor.to(cfg.device)
    ref = ReferenceCache(cfg.paths.cache_dir).get(
        dm, extractor, m.reference_split, m.reference_count
    )
    if cfg.get("checkpoint"):
        model = load_generator(cfg.checkpoint, cfg.get("model_target")).to(cfg.device)
        weights = dm.label_counts(m.reference_split) if dm.num_classes else None
        feats, logits = sample_features(
            model, extractor, m.num_samples, m.chunk_size, m.seed, label_weights=weights
        )
        source = {"checkpoint": str(cfg.checkpoint)}
    else:
        feats, logits = extract_images(extractor, images)
        source = {"images": str(cfg.images)}
    n = len(feats)
    scorer = GenerationScorer(
        extractor.num_features,
        m.kid_subsets,
        m.kid_subset_size,
        m.is_splits,
        m.pr_k,
        m.pr_max_points,
        m.seed,
    )
    values = scorer.score(ref, feats, logits)
    ident = extractor.identity()
    fp = ref.fingerprint
    per_number = {
        "num_generated": n,
        "num_reference": ref.count,
        "seed": m.seed,
        "extractor": ident["name"],
        "extractor_checksum": ident["checksum"],
    }
    record = {
        "metrics": {k: {"value": v, **per_number} for k, v in values.items()},
        "protocol": {
            "extractor": ident,
            "reference_split": fp["split"],
            "reference_count": ref.count,
            "reference_data_hash": fp["data_hash"],
            "dataset": fp["dataset"],
            "image_shape": fp["image_shape"],
            "stats_dtype": fp["stats_dtype"],
            "num_generated": n,
            "seed": m.seed,
            "kid_subsets": m.kid_subsets,
            "kid_subset_size": m.kid_subset_size,
            "is_splits": m.is_splits,
            "pr_k": m.pr_k,
            "pr_max_points": m.pr_max_points,
        },
        "source": source,
    }
    write_json_atomic(out, record)
    print(f"wrote {out}")
    print("  ".join(f"{k}={v:.4g}" for k, v in values.items()))
    return record


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (``lgen evaluate``)."""
    with user_errors():
        evaluate(cfg)


if __name__ == "__main__":
    main()
