"""Compression with an autoencoder: quantise the latent code, count its bits, measure PSNR at that rate.

Each latent dimension is quantised uniformly to ``2**bits`` levels between its min and max over the
analysed split (the per-dimension range is a small codebook stored once: ``2 * D`` float32 values,
reported as ``codebook_bits`` and not counted per image). An image then costs ``D * bits`` bits
against ``C * H * W * 8`` bits for the raw ``uint8`` input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from lightning_gen.analysis.common import PSNRMeter, batches, decode, encode, model_device
from lightning_gen.errors import ConfigError


@dataclass
class CompressionResult:
    """Rate and quality at one bit depth (all PSNRs in dB on ``[0, 1]`` images)."""

    bits_per_dim: int
    latent_dim: int
    latent_bits: int  # per image: latent_dim * bits_per_dim
    input_bits: int  # per image: C * H * W * 8
    compression_ratio: float  # input_bits / latent_bits
    bits_per_pixel: float  # latent_bits / (H * W)
    codebook_bits: int  # once per dataset: 2 * latent_dim * 32
    psnr: float  # reconstructions decoded from the quantised code
    psnr_float: float  # reconstructions decoded from the unquantised code
    num_images: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for ``analysis.json``)."""
        return asdict(self)


def bit_budget(image_shape: Sequence[int], latent_dim: int, bits: int) -> dict[str, float]:
    """Exact bit arithmetic: latent bits, input bits (``C*H*W*8``), ratio and bits per pixel."""
    if bits < 1:
        raise ConfigError(f"compression.bits must be >= 1, got {bits}")
    c, h, w = (int(s) for s in image_shape)
    latent_bits, input_bits = latent_dim * bits, c * h * w * 8
    return {
        "latent_bits": latent_bits,
        "input_bits": input_bits,
        "compression_ratio": input_bits / latent_bits,
        "bits_per_pixel": latent_bits / (h * w),
    }


def quantise(z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniformly quantise codes ``(B, D)`` to ``2**bits`` levels per dim in ``[lo, hi]`` ``(D,)``;
    returns the de-quantised codes ``(B, D)`` (values outside the range are clamped).
    """
    levels = 2**bits - 1
    span = (hi - lo).clamp_min(1e-12)
    q = ((z - lo) / span).clamp(0, 1).mul(levels).round()  # integer indices in [0, levels]
    return lo + q / levels * span


@torch.no_grad()
def encode_split(model: Any, loader: Iterable, max_images: int | None = None) -> list[tuple]:
    """Encode a split once: a list of ``(x, y, z)`` batches (``z`` ``(B, D)``) on the model's device."""
    device = model_device(model)
    return [(x, y, encode(model, x, y)) for x, y in batches(loader, device, max_images)]


@torch.no_grad()
def compression_report(
    model: Any, loader: Iterable, bits: Sequence[int] | int = (4, 8), max_images: int | None = None
) -> list[CompressionResult]:
    """Rate/quality of ``model`` on a split at each bit depth in ``bits`` (one result per depth).

    Needs ``encode`` and ``decode``; conditional models get their labels as ``condition``.
    """
    encoded = encode_split(model, loader, max_images)
    if not encoded:
        raise ConfigError("compression: the split is empty")
    codes = torch.cat([z for _, _, z in encoded])  # (N, D)
    lo, hi = codes.min(0).values, codes.max(0).values
    float_meter = PSNRMeter()
    for x, y, z in encoded:
        float_meter.update(decode(model, z, y), x)
    results = []
    for b in [bits] if isinstance(bits, int) else list(bits):
        budget = bit_budget(encoded[0][0].shape[1:], codes.shape[1], int(b))
        meter = PSNRMeter()
        for x, y, z in encoded:
            meter.update(decode(model, quantise(z, lo, hi, int(b)), y), x)
        results.append(
            CompressionResult(
                bits_per_dim=int(b),
                latent_dim=int(codes.shape[1]),
                codebook_bits=2 * int(codes.shape[1]) * 32,
                psnr=meter.psnr,
                psnr_float=float_meter.psnr,
                num_images=len(codes),
                **budget,
            )
        )
    return results
