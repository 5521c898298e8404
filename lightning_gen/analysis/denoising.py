"""Denoising: PSNR of noisy vs denoised images over a split, for a noise model of ``autoencoder/noise.py``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from lightning_gen.analysis.common import PSNRMeter, batches, model_device, reconstruct
from lightning_gen.autoencoder.noise import get_noise


@dataclass
class DenoisingResult:
    """PSNRs in dB (``[0, 1]`` images, pooled over the split) and the gain of denoising."""

    noise: str
    level: float
    psnr_noisy: float  # corrupted input vs clean
    psnr_denoised: float  # reconstruct(corrupted) vs clean
    psnr_gain: float  # psnr_denoised - psnr_noisy
    num_images: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for ``analysis.json``)."""
        return asdict(self)


@torch.no_grad()
def denoising_report(
    model: Any,
    loader: Iterable,
    noise: str = "gaussian",
    level: float = 0.3,
    seed: int = 0,
    max_images: int | None = None,
    examples: int = 0,
) -> tuple[DenoisingResult, torch.Tensor | None]:
    """Corrupt each image with ``noise`` at ``level`` (seeded), denoise with ``reconstruct``, compare.

    Returns the result and, when ``examples > 0``, a tensor ``(3 * examples, C, H, W)`` of
    (clean, noisy, denoised) triples from the first batch for a picture (else ``None``).
    """
    corrupt = get_noise(noise)
    device = model_device(model)
    noisy_meter, denoised_meter, n, picture = PSNRMeter(), PSNRMeter(), 0, None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for x, y in batches(loader, device, max_images):
            x_noisy = corrupt(x, level)
            x_hat = reconstruct(model, x_noisy, y)
            noisy_meter.update(x_noisy, x)
            denoised_meter.update(x_hat, x)
            n += len(x)
            if picture is None and examples > 0:
                k = min(examples, len(x))
                picture = (
                    torch.stack([x[:k], x_noisy[:k], x_hat[:k].to(x.dtype)], 1).flatten(0, 1).cpu()
                )
    result = DenoisingResult(
        noise=noise,
        level=float(level),
        psnr_noisy=noisy_meter.psnr,
        psnr_denoised=denoised_meter.psnr,
        psnr_gain=denoised_meter.psnr - noisy_meter.psnr,
        num_images=n,
    )
    return result, picture
