"""Latent-space pictures: a 2-D projection of the codes coloured by label, and interpolation grids.

Projection methods are pure functions ``(N, D) codes -> (N, 2)`` chosen by name from
``PROJECTIONS`` (``pca``, ``tsne``); the scatter plot is drawn on a standalone matplotlib
``Figure`` (no pyplot, no display, and the caller's backend is left alone) at an exact pixel size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lightning_gen.analysis.common import batches, decode, encode, model_device
from lightning_gen.errors import ConfigError


@torch.no_grad()
def collect_latents(
    model: Any, loader: Iterable, max_images: int | None = 1000
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Codes ``(N, D)`` of up to ``max_images`` images of a split, and their labels ``(N,)`` or None."""
    zs, ys = [], []
    for x, y in batches(loader, model_device(model), max_images):
        zs.append(encode(model, x, y).float().cpu())
        ys.append(None if y is None else y.cpu())
    if not zs:
        raise ConfigError("latent: the split is empty")
    labels = None if any(y is None for y in ys) else torch.cat(ys)
    return torch.cat(zs), labels


def pca_2d(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """First two principal components of codes ``(N, D)`` -> ``(N, 2)``."""
    from sklearn.decomposition import PCA

    if z.shape[1] < 2:
        return np.concatenate([z, np.zeros((len(z), 2 - z.shape[1]))], 1)
    return PCA(n_components=2, random_state=seed).fit_transform(z)


def tsne_2d(z: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE embedding of codes ``(N, D)`` -> ``(N, 2)`` (perplexity capped for small N)."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(z) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        z
    )


PROJECTIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"pca": pca_2d, "tsne": tsne_2d}


def project_2d(z: torch.Tensor | np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project codes ``(N, D)`` to ``(N, 2)`` with a method of ``PROJECTIONS``."""
    if method not in PROJECTIONS:
        raise ConfigError(
            f"latent.method={method!r} is not a projection; choose one of {sorted(PROJECTIONS)}"
        )
    return np.asarray(PROJECTIONS[method](np.asarray(z, dtype=np.float64), seed), dtype=np.float64)


def label_silhouette(
    z: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | None
) -> float | None:
    """Silhouette score of codes ``(N, D)`` grouped by label, in ``[-1, 1]`` (higher: classes form
    tighter, better separated clusters); ``None`` when unlabelled or with fewer than two classes.
    """
    from sklearn.metrics import silhouette_score

    if labels is None or len(np.unique(np.asarray(labels))) < 2 or len(z) < 3:
        return None
    return float(silhouette_score(np.asarray(z, dtype=np.float64), np.asarray(labels)))


def scatter_png(
    points: np.ndarray,
    labels: np.ndarray | torch.Tensor | None,
    path: str | Path,
    size: tuple[int, int] = (640, 640),
    title: str = "",
    class_names: list[str] | None = None,
) -> Path:
    """Save a scatter plot of ``points`` ``(N, 2)`` coloured by ``labels`` ``(N,)`` as a PNG of exactly
    ``size = (width, height)`` pixels (one tab10/tab20 colour per class, legend by class); returns the path.
    """
    import matplotlib
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dpi = 100
    # a Figure outside pyplot renders with its own Agg canvas: the global backend (a notebook's
    # inline one, say) is never switched and no figure is left open
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    ax = fig.subplots()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, c="tab:blue")
    else:
        labels = np.asarray(labels)
        classes = np.unique(labels)
        cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, k in enumerate(classes):
            sel = labels == k
            name = class_names[int(k)] if class_names and 0 <= int(k) < len(class_names) else str(k)
            ax.scatter(points[sel, 0], points[sel, 1], s=6, color=cmap(i % cmap.N), label=name)
        ax.legend(markerscale=2, fontsize=7, loc="best", frameon=False)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.savefig(path, dpi=dpi)
    return path


@torch.no_grad()
def interpolate(
    model: Any,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    steps: int = 8,
    y_a: torch.Tensor | None = None,
    y_b: torch.Tensor | None = None,
) -> torch.Tensor:
    """Decode ``steps`` codes on the line from ``encode(x_a)`` to ``encode(x_b)`` for P pairs.

    ``x_a``, ``x_b``: ``(P, C, H, W)``; returns ``(P * steps, C, H, W)`` in ``[-1, 1]``, row-major
    (one row per pair) so that ``save_grid(out, nrow=steps)`` shows a pair per row. The first and
    last columns are exactly ``decode(encode(x_a))`` and ``decode(encode(x_b))``. A conditional
    model uses ``y_a`` for the first half of the row and ``y_b`` for the second.
    """
    if steps < 2:
        raise ConfigError(f"latent.steps must be >= 2 (both endpoints), got {steps}")
    z_a, z_b = encode(model, x_a, y_a), encode(model, x_b, y_b)  # (P, D)
    rows = []
    for i, t in enumerate(torch.linspace(0, 1, steps).tolist()):
        z = z_a if i == 0 else z_b if i == steps - 1 else torch.lerp(z_a, z_b, t)
        rows.append(decode(model, z, y_a if t < 0.5 else y_b))  # (P, C, H, W)
    return torch.stack(rows, 1).flatten(0, 1)  # (P * steps, C, H, W)


def pick_pairs(
    x: torch.Tensor, y: torch.Tensor | None, pairs: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Choose ``pairs`` (a, b) images from ``x`` ``(N, C, H, W)``: of different labels when labelled."""
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    a = torch.randperm(n, generator=g)[: min(pairs, n)]
    b = torch.randperm(n, generator=g)[: len(a)]
    if y is not None:  # prefer a partner of another class
        for i, ia in enumerate(a.tolist()):
            other = torch.nonzero(y.cpu() != y[ia].cpu()).flatten()
            if len(other):
                b[i] = other[torch.randint(len(other), (1,), generator=g)]
    ya = None if y is None else y[a.to(y.device)]
    yb = None if y is None else y[b.to(y.device)]
    return x[a.to(x.device)], x[b.to(x.device)], ya, yb
