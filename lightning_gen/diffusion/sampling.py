"""What a sampling loop wraps around the network: classifier-free guidance and inpainting.

The samplers themselves (DDPM, DDIM, DPM-Solver++) and the loop are in ``samplers.py``.
``guided`` folds guidance into a denoiser ``denoise(x_t, t) -> prediction``;
``inpainting_projection`` is a ``project(x, s)`` hook that ``run_sampler`` applies after each
step, with the timestep ``x`` now belongs to (``-1`` for the final sample).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightning_gen.diffusion.samplers import Denoiser, Projection
from lightning_gen.diffusion.schedule import NoiseSchedule


def _noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _timestep(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)


def inpainting_projection(
    schedule: NoiseSchedule,
    known: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator | None = None,
) -> Projection:
    """A ``project`` hook that keeps the known pixels at every step.

    ``known`` ``(B, C, H, W)`` holds the image; ``mask`` (broadcastable, 1 = known, 0 = to fill).
    After a step to timestep ``s``, known pixels are replaced by ``q(x_s | known)``; at the end
    (``s = -1``) by ``known`` itself, so the output equals ``known`` wherever ``mask == 1``.
    """
    mask = mask.to(known.dtype)

    def project(x: torch.Tensor, s: int) -> torch.Tensor:
        ref = (
            known
            if s < 0
            else schedule.add_noise(known, _noise(known, generator), _timestep(s, known))
        )
        return mask * ref + (1 - mask) * x

    return project


def guided(
    denoise_cond: Callable[..., torch.Tensor],
    labels: torch.Tensor | None,
    null_label: int,
    scale: float,
) -> Denoiser:
    """Classifier-free guidance: ``(1 - w) * f(x, t, null) + w * f(x, t, y)``.

    ``w = 0`` is the unconditional model, ``w = 1`` the conditional one, ``w > 1`` extrapolates.
    ``denoise_cond(x, t, y)`` takes labels ``(B,)`` where ``null_label`` means "no label".
    Only one network call per step is made when ``w`` is 0 or 1 or there are no labels.
    """
    if labels is None:
        return lambda x, t: denoise_cond(x, t, None)
    null = torch.full_like(labels, null_label)
    if scale == 0:
        return lambda x, t: denoise_cond(x, t, null)
    if scale == 1:
        return lambda x, t: denoise_cond(x, t, labels)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        both = denoise_cond(torch.cat([x, x]), torch.cat([t, t]), torch.cat([null, labels]))
        uncond, cond = both.chunk(2)
        return uncond + scale * (cond - uncond)

    return denoise
