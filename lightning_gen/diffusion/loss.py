"""Diffusion training objective: noise the data at a random timestep, regress the schedule's target.

``diffusion_loss(denoise, schedule, x0, weighting) -> per-example (B,)``. Weightings are pure
functions ``weight(schedule, t) -> (B,)`` picked by name in config.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightning_gen.diffusion.schedule import NoiseSchedule
from lightning_gen.errors import ConfigError


def uniform_weight(schedule: NoiseSchedule, t: torch.Tensor) -> torch.Tensor:
    """Plain MSE on the prediction target (Ho et al.'s "simple" loss): all ones ``(B,)``."""
    return torch.ones(t.shape, device=t.device)


def min_snr_weight(schedule: NoiseSchedule, t: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Min-SNR-gamma (Hang et al. 2023): the x0-space weight ``min(SNR, gamma)`` expressed for the target.

    For epsilon it is ``min(SNR, g) / SNR``, for v ``min(SNR, g) / (SNR + 1)``, for x0 ``min(SNR, g)``.
    """
    snr = schedule.snr(t)
    clipped = snr.clamp(max=gamma)
    per_target = {"epsilon": snr, "v": snr + 1, "x0": torch.ones_like(snr)}
    return clipped / per_target[schedule.prediction]


LOSS_WEIGHTINGS: dict[str, Callable[[NoiseSchedule, torch.Tensor], torch.Tensor]] = {
    "none": uniform_weight,
    "min_snr": min_snr_weight,
}


def get_weighting(name: str) -> Callable[[NoiseSchedule, torch.Tensor], torch.Tensor]:
    """Look up a loss weighting by name; raise a ConfigError naming the valid choices."""
    if name not in LOSS_WEIGHTINGS:
        raise ConfigError(
            f"model.loss_weighting={name!r} is not a weighting; choose one of {sorted(LOSS_WEIGHTINGS)}"
        )
    return LOSS_WEIGHTINGS[name]


def diffusion_loss(
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    weighting: Callable[[NoiseSchedule, torch.Tensor], torch.Tensor] = uniform_weight,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted MSE between ``denoise(x_t, t)`` and the target, per example ``(B,)``.

    ``x0`` ``(B, ...)`` is clean data; ``t`` and ``noise`` default to uniform timesteps and N(0, I)
    (pass them to get a deterministic loss).
    """
    t = schedule.sample_timesteps(len(x0), x0.device) if t is None else t
    noise = torch.randn_like(x0) if noise is None else noise
    x_t = schedule.add_noise(x0, noise, t)
    err = (denoise(x_t, t) - schedule.target(x0, noise, t)).pow(2).flatten(1).mean(1)
    return weighting(schedule, t) * err
