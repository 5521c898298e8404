"""What ``lgen benchmark`` measures on a finished run beyond its own metrics (``benchmark_probe.json``).

Loads ``checkpoints/last.ckpt`` and the run's data and extractor (from its ``config.yaml``), then
times ``model.sample`` (sampling images/s with the run's sampler settings), and computes the
memorisation rate against training features and, for class-conditional models, the share of
samples the extractor's classifier assigns to the requested class.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf

from lightning_gen.checkpoints import load_model
from lightning_gen.contracts import condition_classes, sampling_options
from lightning_gen.images import to_uint8
from lightning_gen.metrics.extractor import resolve_extractor
from lightning_gen.metrics.memorisation import memorisation_rate
from lightning_gen.metrics.sampling import extract_images


def is_conditional(model: Any) -> bool:
    """Whether ``model`` generates the class it is asked for (class-conditional families)."""
    return condition_classes(model) > 0


def sampler_settings(model: Any) -> dict[str, Any]:
    """The sampler options of a model (``contracts.sampling_options``); one network pass otherwise."""
    return sampling_options(model) or {"sampler": "one forward pass"}


def _train_features(dm: Any, extractor: Any, count: int) -> torch.Tensor:
    feats, n = [], 0
    for x, _ in dm.split_dataloader("train", batch_size=512):
        f, _ = extract_images(extractor, to_uint8(x))
        feats.append(f)
        n += len(f)
        if n >= count:
            break
    return torch.cat(feats)[:count]


@torch.no_grad()
def probe_run(
    run_dir: Path,
    num_samples: int = 256,
    chunk_size: int = 128,
    train_count: int = 2000,
    cache_dir: str | None = None,
    data_cache: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure sampling speed, memorisation and control for the run in ``run_dir``."""
    cfg = OmegaConf.load(run_dir / "config.yaml")
    key = OmegaConf.to_yaml(cfg.data)
    data_cache = {} if data_cache is None else data_cache
    if key not in data_cache:
        dm = hydra.utils.instantiate(cfg.data, _convert_="all")
        dm.prepare_data()
        dm.setup("fit")
        data_cache[key] = dm
    dm = data_cache[key]
    spec = hydra.utils.instantiate(cfg.metrics.extractor, _convert_="all")
    extractor = resolve_extractor(spec, dm, cache_dir or cfg.paths.cache_dir)
    model = load_model(run_dir)
    conditional = is_conditional(model) and bool(dm.num_classes)
    torch.manual_seed(0)
    images, labels, seconds = [], [], 0.0
    for s in range(0, num_samples, chunk_size):
        n = min(chunk_size, num_samples - s)
        y = torch.arange(s, s + n) % dm.num_classes if conditional else None
        t0 = time.perf_counter()
        images.append(model.sample(n, condition=y))  # (n, C, H, W) in [-1, 1]
        seconds += time.perf_counter() - t0
        if y is not None:
            labels.append(y)
    feats, logits = extract_images(extractor, to_uint8(torch.cat(images)))
    result: dict[str, Any] = {
        "sampling_images_per_s": num_samples / max(seconds, 1e-9),
        "sampling_num_samples": num_samples,
        "sampler": sampler_settings(model),
        "memorisation_rate": memorisation_rate(feats, _train_features(dm, extractor, train_count)),
        "memorisation_train_count": train_count,
        "extractor": extractor.name,
        "control_accuracy": None,
    }
    if conditional and logits is not None:
        result["control_accuracy"] = float((logits.argmax(1) == torch.cat(labels)).float().mean())
    return result
