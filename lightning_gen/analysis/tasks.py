"""The analyses ``lgen analyze`` runs, one function each: ``task(model, datamodule, opts, out) -> dict``.

``opts`` is the task's config section plus ``split`` and ``max_images``; each task writes its
pictures into ``out`` and returns the numbers that go into ``analysis.json``. ``TASKS`` maps the
names accepted by ``tasks=[...]`` to these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_gen.analysis.anomaly import anomaly_result, reconstruction_scores, split_by_classes
from lightning_gen.analysis.common import model_device
from lightning_gen.analysis.compression import compression_report
from lightning_gen.analysis.denoising import denoising_report
from lightning_gen.analysis.latent import (
    collect_latents,
    interpolate,
    label_silhouette,
    pick_pairs,
    project_2d,
    scatter_png,
)
from lightning_gen.errors import ConfigError
from lightning_gen.fileio import atomic_write
from lightning_gen.images import save_grid


def run_compression(model: Any, dm: Any, opts: dict, out: Path) -> dict:
    """Bits of the quantised latent code vs the input, and the PSNR at each bit depth."""
    results = compression_report(
        model, dm.split_dataloader(opts["split"]), opts["bits"], opts["max_images"]
    )
    return {f"{r.bits_per_dim}bit": r.as_dict() for r in results}


def run_denoising(model: Any, dm: Any, opts: dict, out: Path) -> dict:
    """PSNR of noisy vs denoised images; writes ``denoising.png`` (rows of clean, noisy, denoised)."""
    result, picture = denoising_report(
        model,
        dm.split_dataloader(opts["split"]),
        noise=opts["noise"],
        level=float(opts["level"]),
        seed=int(opts["seed"]),
        max_images=opts["max_images"],
        examples=int(opts["examples"]),
    )
    if picture is not None:
        save_grid(picture, out / "denoising.png", nrow=3)  # one (clean, noisy, denoised) per row
    return result.as_dict()


def _anomalies(dm: Any, opts: dict, model: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """Scores of normal and anomalous images and where the anomalies came from."""
    from lightning_gen.data.dataset import collate

    k, score, cap = dm.num_classes, opts["score"], opts["max_images"]
    scores, labels = reconstruction_scores(model, dm.split_dataloader(opts["split"]), score, k, cap)
    classes = opts["classes"]
    if classes:  # anomalies: images of these classes in the analysed split
        normal, anomalous = split_by_classes(scores, labels, [int(c) for c in classes])
        return normal, anomalous, f"classes {list(classes)} of the {opts['split']} split"
    source = getattr(dm, "source", None)
    if not hasattr(source, "load_excluded"):
        raise ConfigError(
            "anomaly: no anomalies to score. Train on data without a class (experiment=anomaly_mnist) "
            "and analyze that run, or name the anomalous classes with anomaly.classes=[9]"
        )
    held_out = source.load_excluded()
    loader = torch.utils.data.DataLoader(held_out, batch_size=dm.batch_size, collate_fn=collate)
    anomalous, _ = reconstruction_scores(model, loader, score, k, cap)
    return scores, anomalous, f"held-out classes {list(source.exclude)} (never seen in training)"


def run_anomaly(model: Any, dm: Any, opts: dict, out: Path) -> dict:
    """Per-image reconstruction scores and the AUROC of normal vs held-out images;
    writes ``anomaly_scores.npz`` (both score arrays).
    """
    normal, anomalous, origin = _anomalies(dm, opts, model)
    result = anomaly_result(normal, anomalous, opts["score"])
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "anomaly_scores.npz", "wb") as f:
        np.savez(f, normal=normal, anomalous=anomalous)
    return {**result.as_dict(), "anomalies": origin}


def run_latent(model: Any, dm: Any, opts: dict, out: Path) -> dict:
    """``latents_<method>.png`` (2-D projection coloured by label) and ``interpolation.png``."""
    method, seed = opts["method"], int(opts["seed"])
    z, y = collect_latents(model, dm.split_dataloader(opts["split"]), opts["max_images"] or 1000)
    points = project_2d(z, method, seed)
    names = getattr(dm.full, "class_names", None)
    title = f"{type(model).__name__} latents ({method}, {len(z)} {opts['split']} images)"
    scatter = scatter_png(points, y, out / f"latents_{method}.png", title=title, class_names=names)
    x_all = torch.cat([x for x, _ in dm.split_dataloader(opts["split"])])[: len(z)]
    device = model_device(model)
    ys = None if y is None else y.to(device)
    xa, xb, ya, yb = pick_pairs(x_all.to(device), ys, int(opts["pairs"]), seed)
    steps = int(opts["steps"])
    grid = save_grid(
        interpolate(model, xa, xb, steps, ya, yb).cpu(), out / "interpolation.png", nrow=steps
    )
    return {
        "silhouette": label_silhouette(z, y),
        "method": method,
        "num_images": len(z),
        "latent_dim": int(z.shape[1]),
        "projection": scatter.name,
        "interpolation": grid.name,
    }


TASKS: dict[str, Callable[[Any, Any, dict, Path], dict]] = {
    "compression": run_compression,
    "denoising": run_denoising,
    "anomaly": run_anomaly,
    "latent": run_latent,
}
