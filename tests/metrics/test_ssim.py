"""The separable SSIM gives torchmetrics' SSIM values (it replaces it in the reconstruction metrics
and the translation GANs' pair metrics)."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.image import StructuralSimilarityIndexMeasure

from lightning_gen.gan.translation import pair_metrics
from lightning_gen.metrics.ssim import SeparableSSIM, banded, ssim_per_image


@pytest.mark.parametrize(
    "shape,sigma",
    [((64, 1, 28, 28), 1.5), ((6, 3, 32, 48), 1.5), ((3, 2, 11, 17), 1.5), ((4, 1, 28, 28), 0.8)],
)
def test_separable_ssim_equals_torchmetrics(shape, sigma):
    g = torch.Generator().manual_seed(0)
    a = torch.rand(shape, generator=g)
    b = (a + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)  # similar but not equal
    ref = StructuralSimilarityIndexMeasure(data_range=1.0, sigma=sigma, reduction="none")(a, b)
    ours = ssim_per_image(a, b, data_range=1.0, sigma=sigma)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    assert 0.2 < float(ours.mean()) < 0.99  # a real, non-trivial SSIM
    # accumulated over batches like the metric object (the reconstruction callback's use)
    sep, tm = (
        SeparableSSIM(data_range=1.0, sigma=sigma),
        StructuralSimilarityIndexMeasure(data_range=1.0, sigma=sigma),
    )
    for i in range(0, shape[0], 2):
        sep.update(a[i : i + 2], b[i : i + 2])
        tm.update(a[i : i + 2], b[i : i + 2])
    torch.testing.assert_close(sep.compute(), tm.compute(), atol=1e-6, rtol=0)


def test_separable_ssim_of_an_image_with_itself_is_one_and_data_range_matters():
    x = torch.rand(5, 1, 20, 20, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ssim_per_image(x, x, 1.0), torch.ones(5))
    y = x * 0.5
    torch.testing.assert_close(
        ssim_per_image(x * 255, y * 255, 255.0),
        structural_similarity_index_measure(x * 255, y * 255, data_range=255.0, reduction="none"),
        atol=1e-5,
        rtol=0,
    )


def test_banded_matrix_is_valid_correlation():
    g = torch.tensor([1.0, 2.0, 3.0])
    x = torch.arange(7.0)
    expected = torch.stack([(x[i : i + 3] * g).sum() for i in range(5)])
    torch.testing.assert_close(banded(g, 5) @ x, expected)


def test_pair_metrics_ssim_is_torchmetrics_ssim():
    g = torch.Generator().manual_seed(2)
    fake, target = (
        torch.rand(4, 3, 16, 16, generator=g) * 2 - 1,
        torch.rand(4, 3, 16, 16, generator=g) * 2 - 1,
    )
    out = pair_metrics(fake, target)
    ref = structural_similarity_index_measure((fake + 1) / 2, (target + 1) / 2, data_range=1.0)
    torch.testing.assert_close(out["ssim"], ref, atol=1e-6, rtol=0)


def test_separable_ssim_rejects_what_it_does_not_compute():
    with pytest.raises(ValueError, match="return_full_image"):
        SeparableSSIM(data_range=1.0, return_full_image=True)
    with pytest.raises(ValueError, match="reduction"):
        SeparableSSIM(data_range=1.0, reduction="none")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        SeparableSSIM(data_range=1.0).update(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 9))
