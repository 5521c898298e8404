"""Correctness of the metric math on synthetic features (no extractor, no download)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from lightning_gen.metrics.precision_recall import knn_radii, precision_recall
from lightning_gen.metrics.reference import ReferenceStats, mean_cov
from lightning_gen.metrics.sampling import rank_chunks
from lightning_gen.metrics.scorer import GenerationScorer


def reference_of(features: torch.Tensor, logits: torch.Tensor | None = None) -> ReferenceStats:
    mean, cov = mean_cov(features)
    return ReferenceStats(mean, cov, features, logits, {"test": True})


def closed_form_fid(mu1, s1, mu2, s2) -> float:
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_of_gaussians_matches_closed_form_and_self_is_zero():
    g = torch.Generator().manual_seed(0)
    d, n = 8, 40_000
    a1 = torch.randn(d, d, generator=g) / d**0.5
    a2 = torch.randn(d, d, generator=g) / d**0.5 + torch.eye(d) * 0.5
    mu1, mu2 = torch.zeros(d), torch.linspace(-1, 1, d)
    real = torch.randn(n, d, generator=g, dtype=torch.float64) @ a1.double().T + mu1.double()
    fake = torch.randn(n, d, generator=g, dtype=torch.float64) @ a2.double().T + mu2.double()
    s1, s2 = (a1 @ a1.T).double().numpy(), (a2 @ a2.T).double().numpy()
    expected = closed_form_fid(mu1.double().numpy(), s1, mu2.double().numpy(), s2)
    scorer = GenerationScorer(d, kid_subsets=5, kid_subset_size=500, pr_max_points=500)
    got = scorer.score(reference_of(real.float()), fake.float(), None)["fid"]
    assert got == pytest.approx(expected, rel=0.01), (got, expected)
    assert abs(scorer.score(reference_of(real.float()), real.float(), None)["fid"]) < 1e-4


def test_kid_is_unbiased_for_two_draws_of_one_distribution():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2000, 16, generator=g), torch.randn(2000, 16, generator=g)
    far = torch.randn(2000, 16, generator=g) + 0.5
    scorer = GenerationScorer(16, kid_subsets=50, kid_subset_size=500, pr_max_points=300)
    same, shifted = scorer.score(reference_of(a), b, None), scorer.score(reference_of(a), far, None)
    assert abs(same["kid_mean"]) < 3 * same["kid_std"] / 50**0.5 + 1e-4, same
    assert shifted["kid_mean"] > 0.1 > abs(same["kid_mean"]) * 100


def test_inception_score_of_confident_uniform_classifier_is_num_classes():
    k, n = 10, 5000
    labels = torch.arange(n) % k
    logits = (
        torch.nn.functional.one_hot(labels, k).float() * 30.0
    )  # confident, uniform over classes
    feats = torch.randn(n, 4)
    out = GenerationScorer(4, kid_subsets=2, kid_subset_size=100, pr_max_points=300).score(
        reference_of(feats), feats, logits
    )
    # each of the 10 splits holds ~500 shuffled labels: its class marginal is ~uniform, IS ~ K
    assert out["is_mean"] == pytest.approx(k, rel=0.02) and out["is_std"] < 0.1
    one_class = torch.nn.functional.one_hot(torch.zeros(n, dtype=torch.long), k).float() * 30.0
    out = GenerationScorer(4, kid_subsets=2, kid_subset_size=100, pr_max_points=300).score(
        reference_of(feats), feats, one_class
    )
    assert out["is_mean"] == pytest.approx(1.0, abs=1e-3)


def modes(n_per: int, centers: list[int], g: torch.Generator) -> torch.Tensor:
    c = torch.eye(8)[centers] * 10  # well-separated modes
    return (c[:, None] + 0.3 * torch.randn(len(centers), n_per, 8, generator=g)).reshape(-1, 8)


def test_precision_recall_identical_sets_and_dropped_mode():
    g = torch.Generator().manual_seed(2)
    real = modes(200, [0, 1, 2, 3], g)
    p, r = precision_recall(real, real.clone())
    assert float(p) == 1.0 and float(r) == 1.0
    p_full, r_full = (
        float(v) for v in precision_recall(real, modes(200, [0, 1, 2, 3], g))
    )  # a fresh draw: the baseline
    p_drop, r_drop = (
        float(v) for v in precision_recall(real, modes(267, [0, 1, 2], g))
    )  # one of four modes missing
    assert p_drop > 0.8 * p_full and r_full > 0.8
    assert r_drop == pytest.approx(0.75 * r_full, abs=0.05)  # recall loses the dropped quarter
    p_out = float(
        precision_recall(real, modes(200, [0, 1, 4, 5], g))[0]
    )  # half the samples off-manifold
    assert p_out == pytest.approx(0.5 * p_full, abs=0.05)


def test_knn_radius_is_kth_neighbour_distance():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    torch.testing.assert_close(
        knn_radii(x, k=1), torch.tensor([1.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        knn_radii(x, k=2), torch.tensor([3.0, 2.0, 3.0, 5.0], dtype=torch.float64)
    )


def test_rank_chunks_partition_the_sample_set():
    one = rank_chunks(1000, 128)
    two = rank_chunks(1000, 128, 0, 2) + rank_chunks(1000, 128, 1, 2)
    assert sorted(one) == sorted(two) and sum(s for _, s in one) == 1000
    assert not set(rank_chunks(1000, 128, 0, 2)) & set(rank_chunks(1000, 128, 1, 2))
