"""``lgen evaluate``: score a checkpoint, or a folder / ``.npz`` of generated images, against a dataset.

Writes ``<output_dir>/metrics.json`` = ``{"generation": <record>}``: the numbers with the full
protocol (extractor, reference, counts, seed, the resolved sampling options) and its key, in the
record format of the training callback (``metrics/protocol.py``), so the numbers are comparable
with ``val/fid`` etc. of any run whose record has the same ``protocol_key``.

    lgen evaluate data=mnist checkpoint=runs/vae_mnist/<stamp>/checkpoints/last.ckpt
    lgen evaluate data=mnist checkpoint=runs/ddpm_mnist/<stamp> sampler=dpm_solver steps=20
    lgen evaluate data=mnist images=samples.npz metrics.num_samples=5000
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from lightning_gen.callbacks.metrics_file import write_json_atomic
from lightning_gen.checkpoints import load_model
from lightning_gen.cli_errors import user_errors
from lightning_gen.contracts import CanSample, resolve_sampling
from lightning_gen.data.arrays import load_image_array
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.metrics.extractor import resolve_extractor
from lightning_gen.metrics.protocol import GenerationProtocol, make_record, sampling_overrides
from lightning_gen.metrics.reference import ReferenceCache
from lightning_gen.metrics.sampling import extract_images, sample_features
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
    """Score the generator or images named in ``cfg``; returns (and writes) ``metrics.json``.

    The file holds ``{"generation": <record>}``, the same record format as the callback's
    ``generation_metrics.jsonl`` lines (``metrics/protocol.py``), with stage ``evaluate``.
    """
    if bool(cfg.get("checkpoint")) == bool(cfg.get("images")):
        raise ConfigError(
            "pass exactly one of checkpoint=<.ckpt or run folder> and images=<folder or .npz>"
        )
    out = Path(cfg.get("output") or Path(cfg.paths.output_dir) / "metrics.json")
    check_writable(out.parent)  # a read-only folder: one clear line before any work
    protocol = GenerationProtocol.of(hydra.utils.instantiate(cfg.metrics, _convert_="all"))
    overrides = {**protocol.sampling, **sampling_overrides(cfg)}
    model = sampling = None
    if cfg.get("checkpoint"):  # the model and its sampling options first: fail before extracting
        if cfg.get("range") is not None:
            raise ConfigError(
                "range= applies to images=<.npz>; a checkpoint's samples are in [-1, 1]"
            )
        model = load_generator(cfg.checkpoint, cfg.get("model_target")).to(cfg.device)
        try:
            sampling = resolve_sampling(model, overrides)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    elif overrides:
        raise ConfigError(
            f"sampling options {sorted(overrides)} apply to checkpoint=..., not to images=...; drop them"
        )
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    if model is None:  # checked before the (slow) feature extractor is built
        images = load_images(cfg.images, cfg.get("range"), dm.image_shape)
    extractor = resolve_extractor(protocol.extractor, dm, cfg.paths.cache_dir)
    extractor.to(cfg.device)
    ref = ReferenceCache(cfg.paths.cache_dir).get(
        dm, extractor, protocol.reference_split, protocol.reference_count
    )
    t0 = time.perf_counter()
    if model is not None:
        weights = dm.label_counts(protocol.reference_split) if dm.num_classes else None
        feats, logits = sample_features(
            model,
            extractor,
            protocol.num_samples,
            protocol.chunk_size,
            protocol.seed,
            label_weights=weights,
            options=sampling,
        )
    else:
        feats, logits = extract_images(extractor, images)
    values = protocol.scorer(extractor.num_features).score(ref, feats, logits)
    described = protocol.describe(extractor, ref, sampling or {}, num_samples=len(feats))
    if model is None:
        described["images"] = str(cfg.images)
    record = make_record(
        "evaluate",
        values,
        time.perf_counter() - t0,
        described,
        "evaluate",
        checkpoint=str(cfg.checkpoint) if cfg.get("checkpoint") else None,
    )
    write_json_atomic(out, {"generation": record})
    print(f"wrote {out}")
    print("  ".join(f"{k}={v:.4g}" for k, v in record["values"].items()))
    return record


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (``lgen evaluate``)."""
    with user_errors():
        evaluate(cfg)


if __name__ == "__main__":
    main()
