"""Memorisation rate: how many generated samples sit closer to a training image than training
images sit to each other.

A generated sample ``g`` whose nearest training neighbour is ``x_j`` counts as memorised when
``d(g, x_j) < d_train(x_j)``, where ``d_train(x_j)`` is the distance from ``x_j`` to its own nearest
*other* training image (all distances in the feature space of the metric extractor). A model that
copies its training set scores near 1; independent draws from the data distribution score about
the rate at which a fresh real image beats that bound (well below 1).
"""

from __future__ import annotations

import torch


def nearest_neighbour_distances(train: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """``(N,)``: each training feature's distance to its nearest *other* training feature."""
    out = []
    for s in range(0, len(train), chunk):
        d = torch.cdist(train[s : s + chunk].double(), train.double())  # (c, N)
        idx = torch.arange(s, min(s + chunk, len(train)))
        d[torch.arange(len(idx)), idx] = float("inf")
        out.append(d.min(dim=1).values)
    return torch.cat(out)


def memorisation_rate(generated: torch.Tensor, train: torch.Tensor, chunk: int = 1024) -> float:
    """Share of ``generated (M, D)`` features closer to their nearest ``train (N, D)`` feature than
    that training feature is to its own nearest training neighbour. Needs ``N >= 2``."""
    if len(train) < 2 or len(generated) == 0:
        raise ValueError("memorisation_rate needs >= 2 training and >= 1 generated features")
    radius = nearest_neighbour_distances(train, chunk)  # (N,)
    hits = 0
    for s in range(0, len(generated), chunk):
        d = torch.cdist(generated[s : s + chunk].double(), train.double())  # (c, N)
        dist, j = d.min(dim=1)
        hits += int((dist < radius[j]).sum())
    return hits / len(generated)
