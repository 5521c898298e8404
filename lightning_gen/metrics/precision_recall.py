"""Improved precision and recall (Kynkäänniemi et al., 2019) with k-NN manifolds.

Each set's manifold is the union of balls around its points whose radius is the distance to the
point's k-th nearest neighbour in the same set. Precision: the fraction of generated points inside
the real manifold. Recall: the fraction of real points inside the generated manifold. Written by
hand because no kept library provides it; distances are computed in chunks (memory ~ chunk x N),
and at most ``max_points`` real and generated points are used (time is quadratic in the count).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


def knn_radii(features: torch.Tensor, k: int = 3, chunk: int = 1024) -> torch.Tensor:
    """Distance of every point of ``features (N, D)`` to its k-th nearest other point: ``(N,)``."""
    if len(features) <= k:
        raise ValueError(
            f"precision/recall with k={k} needs more than {k} points, got {len(features)}"
        )
    f = features.double()
    out = [
        torch.cdist(f[i : i + chunk], f).kthvalue(k + 1, dim=1).values
        for i in range(0, len(f), chunk)
    ]
    return torch.cat(out)  # the (k+1)-th smallest: the point itself is at distance 0


def coverage(
    points: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor, chunk: int = 1024
) -> torch.Tensor:
    """Fraction of ``points (M, D)`` inside at least one ball ``(centers (N, D), radii (N,))``."""
    p, c = points.double(), centers.double()
    inside = [
        (torch.cdist(p[i : i + chunk], c) <= radii[None]).any(1) for i in range(0, len(p), chunk)
    ]
    return torch.cat(inside).double().mean()


def precision_recall(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, real_radii: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Improved precision and recall of ``fake (M, D)`` against ``real (N, D)``; both in ``[0, 1]``.

    ``real_radii (N,)``: the real set's k-NN radii when already known (they depend on real and k only).
    """
    real_radii = knn_radii(real, k) if real_radii is None else real_radii
    precision = coverage(fake, real, real_radii)
    recall = coverage(real, fake, knn_radii(fake, k))
    return precision, recall


class PrecisionRecall(Metric):
    """torchmetrics wrapper: generated features are a synced state, the real ones a fixed reference.

    The reference is set on every rank (``set_reference``) and never synced, so it is counted once;
    its k-NN radii are computed on first use and kept until another reference is set.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, k: int = 3, max_points: int = 5000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.k, self.max_points = k, max_points
        self.reference: torch.Tensor | None = None
        self._source: torch.Tensor | None = None
        self._radii: torch.Tensor | None = None
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def set_reference(self, features: torch.Tensor) -> None:
        """Real features ``(N, D)`` (at most ``max_points`` of them are used)."""
        if features is not self._source:
            self._source, self.reference, self._radii = (
                features,
                subsample(features, self.max_points),
                None,
            )

    def update(self, features: torch.Tensor) -> None:
        """Generated features ``(B, D)``."""
        self.fake_features.append(features)

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.reference is None:
            raise RuntimeError("PrecisionRecall.set_reference(real_features) was not called")
        fake = subsample(dim_zero_cat(self.fake_features), self.max_points)
        if self._radii is None:
            self._radii = knn_radii(self.reference, self.k)
        return precision_recall(
            self.reference.to(fake.device), fake, self.k, self._radii.to(fake.device)
        )


def subsample(x: torch.Tensor, n: int) -> torch.Tensor:
    """At most ``n`` rows of ``x``, chosen by a fixed-seed permutation (cost is quadratic in rows)."""
    if len(x) <= n:
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:n].to(x.device)]
