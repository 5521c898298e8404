"""Corruption models for the denoising autoencoder: ``corrupt(x, level, generator) -> x_noisy`` in ``[-1, 1]``."""

from __future__ import annotations

from collections.abc import Callable

import torch


def gaussian(x: torch.Tensor, level: float) -> torch.Tensor:
    """Add N(0, level^2) noise (level in units of the [-1, 1] range), then clamp."""
    return (x + level * torch.randn_like(x)).clamp(-1, 1)


def salt_and_pepper(x: torch.Tensor, level: float) -> torch.Tensor:
    """Set a fraction ``level`` of pixels to -1 or +1 (half each)."""
    u = torch.rand_like(x)
    out = x.clone()
    out[u < level / 2] = -1.0
    out[(u >= level / 2) & (u < level)] = 1.0
    return out


def masking(x: torch.Tensor, level: float) -> torch.Tensor:
    """Zero out (set to -1, i.e. black) a fraction ``level`` of pixel locations across all channels."""
    keep = (torch.rand_like(x[:, :1]) >= level).to(x.dtype)  # (B, 1, H, W)
    return x * keep - (1 - keep)


NOISE_MODELS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "gaussian": gaussian,
    "salt_and_pepper": salt_and_pepper,
    "masking": masking,
}


def get_noise(name: str) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """Look up a noise model by name; raise a clear error naming the valid choices."""
    from lightning_gen.errors import ConfigError

    if name not in NOISE_MODELS:
        raise ConfigError(
            f"model.noise={name!r} is not a noise model; choose one of {sorted(NOISE_MODELS)}"
        )
    return NOISE_MODELS[name]
