"""Samplers as plain functions: ``sampler(denoise, schedule, x_T, ...) -> x_0``.

``denoise(x_t, t) -> prediction`` is any callable (a U-Net with guidance folded in, an MLP on
2-D points...) that returns the schedule's prediction target (epsilon, v or x0) for a batch of
timesteps ``t`` ``(B,)``. ``project(x, t)`` is an optional hook applied after each step with the
timestep ``x`` now belongs to (``-1`` for the final sample): inpainting uses it to paste back the
known pixels, noised to that level.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightning_gen.diffusion.schedule import NoiseSchedule
from lightning_gen.errors import ConfigError

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Projection = Callable[[torch.Tensor, int], torch.Tensor]


def _noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _timestep(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)


@torch.no_grad()
def ddpm_sample(
    denoise: Denoiser,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    *,
    steps: int | None = None,
    eta: float = 1.0,
    clip: float | None = 1.0,
    project: Projection | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Ancestral DDPM: all ``T`` steps of ``x_{t-1} ~ N(mu~(x_t, x0_hat), beta~_t)`` from noise ``x``.

    ``steps`` and ``eta`` are accepted for a uniform signature and ignored (DDPM always takes T steps).
    Returns ``x_0`` of ``x``'s shape.
    """
    for t in range(schedule.timesteps - 1, -1, -1):
        tt = _timestep(t, x)
        x0, _ = schedule.to_x0_eps(x, denoise(x, tt), tt, clip)
        mean, var = schedule.posterior(x0, x, tt)
        x = mean + var.sqrt() * _noise(x, generator) if t > 0 else mean
        if project is not None:
            x = project(x, t - 1)
    return x


@torch.no_grad()
def ddim_sample(
    denoise: Denoiser,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    *,
    steps: int | None = 50,
    eta: float = 0.0,
    clip: float | None = 1.0,
    project: Projection | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """DDIM (Song et al. 2021) on ``steps`` evenly spaced timesteps; ``eta=0`` is deterministic,
    ``eta=1`` with ``steps=T`` is ancestral DDPM. Returns ``x_0`` of ``x``'s shape.
    """
    if not 0.0 <= eta <= 1.0:
        raise ConfigError(f"DDIM eta={eta} must be between 0 and 1")
    ts = schedule.inference_timesteps(steps or schedule.timesteps)
    for t, s in zip(ts, ts[1:] + [-1], strict=True):
        tt, ss = _timestep(t, x), _timestep(s, x)
        x0, eps = schedule.to_x0_eps(x, denoise(x, tt), tt, clip)
        a_t, a_s = schedule.abar(tt, x.ndim), schedule.abar(ss, x.ndim)
        sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)).clamp(min=0).sqrt()
        x = a_s.sqrt() * x0 + (1 - a_s - sigma**2).clamp(min=0).sqrt() * eps
        if s >= 0 and eta > 0:
            x = x + sigma * _noise(x, generator)
        if project is not None:
            x = project(x, s)
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {"ddpm": ddpm_sample, "ddim": ddim_sample}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    """Look up a sampler by name; raise a ConfigError naming the valid choices."""
    if name not in SAMPLERS:
        raise ConfigError(f"sampler={name!r} is not a sampler; choose one of {sorted(SAMPLERS)}")
    return SAMPLERS[name]


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
