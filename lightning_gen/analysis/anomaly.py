"""Anomaly detection by reconstruction error: a per-image score and the AUROC on held-out classes.

A model trained on "normal" data reconstructs unseen kinds of images worse; the score of an image
is its reconstruction error, and the AUROC (scikit-learn) measures how well the score separates
normal images (label 0) from anomalies (label 1): 1.0 is perfect, 0.5 is chance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from lightning_gen.analysis.common import batches, model_device, needs_condition, reconstruct
from lightning_gen.autoencoder.loss import get_loss
from lightning_gen.errors import ConfigError


@dataclass
class AnomalyResult:
    """AUROC and mean scores of the normal and anomalous images."""

    score: str
    auroc: float
    mean_score_normal: float
    mean_score_anomalous: float
    num_normal: int
    num_anomalous: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for ``analysis.json``)."""
        return asdict(self)


def _per_image_error(
    model: Any, x: torch.Tensor, y: torch.Tensor | None, loss: Callable, num_classes: int
) -> torch.Tensor:
    """Per-image reconstruction error ``(B,)``. A conditional model does not get the true label
    (it would leak the answer): its error is the minimum over all ``num_classes`` conditions.
    """
    if not needs_condition(model) or num_classes < 1:
        return loss(reconstruct(model, x, None), x)
    errors = [
        loss(reconstruct(model, x, torch.full((len(x),), k, dtype=torch.long, device=x.device)), x)
        for k in range(num_classes)
    ]
    return torch.stack(errors).min(0).values  # (B,)


@torch.no_grad()
def reconstruction_scores(
    model: Any,
    loader: Iterable,
    score: str = "mse",
    num_classes: int = 0,
    max_images: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Anomaly scores ``(N,)`` (reconstruction error, higher = more anomalous) and labels ``(N,)``.

    ``score`` is a reconstruction loss name of ``autoencoder/loss.py`` (mse, l1, bce). Labels are
    ``None`` for unlabelled data. ``num_classes`` is only used for conditional models.
    """
    loss = get_loss(score)
    scores, labels = [], []
    for x, y in batches(loader, model_device(model), max_images):
        scores.append(_per_image_error(model, x, y, loss, num_classes).float().cpu())
        labels.append(None if y is None else y.cpu())
    s = torch.cat(scores).numpy() if scores else np.zeros(0)
    lab = None if not labels or any(v is None for v in labels) else torch.cat(labels).numpy()
    return s, lab


def auroc(scores: np.ndarray, is_anomaly: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` ``(N,)`` for the binary target ``is_anomaly`` ``(N,)``."""
    is_anomaly = np.asarray(is_anomaly).astype(int)
    if is_anomaly.min(initial=1) == is_anomaly.max(initial=0):
        raise ConfigError(
            "AUROC needs both normal and anomalous images; check anomaly.classes and the split"
        )
    return float(roc_auc_score(is_anomaly, np.asarray(scores, dtype=np.float64)))


def anomaly_result(normal: np.ndarray, anomalous: np.ndarray, score: str = "mse") -> AnomalyResult:
    """AUROC and mean scores from the scores of normal ``(N,)`` and anomalous ``(M,)`` images."""
    s = np.concatenate([normal, anomalous])
    target = np.concatenate([np.zeros(len(normal)), np.ones(len(anomalous))])
    return AnomalyResult(
        score=score,
        auroc=auroc(s, target),
        mean_score_normal=float(np.mean(normal)),
        mean_score_anomalous=float(np.mean(anomalous)),
        num_normal=len(normal),
        num_anomalous=len(anomalous),
    )


def split_by_classes(
    scores: np.ndarray, labels: np.ndarray | None, classes: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of images whose label is not / is in ``classes``: ``(normal, anomalous)``."""
    if labels is None:
        raise ConfigError("anomaly.classes needs labelled data; this split has no labels")
    hit = np.isin(labels, classes)
    return scores[~hit], scores[hit]
