"""Samplers as small objects with two verbs, ``set_timesteps(schedule)`` and ``step(...)``.

A sampler is not an ``nn.Module`` and never sees the network: ``run_sampler`` joins it with a
denoiser in one loop and never knows which sampler it drives. Every sampler honours ``steps``
(the number of network calls; ``None`` = all of the schedule's ``T`` timesteps)::

    sampler.set_timesteps(schedule)
    for i, t in enumerate(sampler.timesteps):          # descending, len == steps
        x0, eps = schedule.to_x0_eps(x, denoise(x, t), t)
        x = sampler.step(x0, eps, i, x, generator)     # to sampler.next_timestep(i), -1 = the end

A model stores its sampler as primitives (``spec()``: import path + keyword arguments) so that
checkpoints load with ``weights_only=True``; ``build_spec`` in ``contracts.py`` turns it back.

Timestep spacing (``spacing``) picks the ``steps`` timesteps out of ``0..T-1``:
``linspace`` (DDPM/DDIM default: evenly from ``T-1`` to ``0``, both ends included), ``leading``
(``0, T/steps, ...``: never visits ``T-1``), ``trailing`` (``T-1, T-1-T/steps, ...``) and, for
the solver, ``logsnr`` (its default: the timesteps nearest to an even grid in log-SNR, the
spacing DPM-Solver is derived for; where two grid points fall on one timestep near ``t = 0`` the
later ones move up by one, so there are always ``steps`` distinct timesteps).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lightning_gen.diffusion.schedule import NoiseSchedule
from lightning_gen.errors import ConfigError

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Projection = Callable[[torch.Tensor, int], torch.Tensor]


def spaced_timesteps(schedule: NoiseSchedule, steps: int, spacing: str) -> list[int]:
    """``steps`` distinct timesteps of ``schedule``, descending, chosen by ``spacing`` (module docstring)."""
    T = schedule.timesteps
    if not 1 <= steps <= T:
        raise ConfigError(
            f"sampler steps={steps} must be between 1 and the model's timesteps ({T})"
        )
    if spacing == "linspace":
        ts = torch.linspace(0, T - 1, steps, dtype=torch.float64).round()
    elif spacing == "leading":
        ts = torch.arange(steps, dtype=torch.float64) * (T // steps)
    elif spacing == "trailing":
        ts = (torch.arange(T, 0, -T / steps, dtype=torch.float64).round() - 1).clamp(min=0)
    elif spacing == "logsnr":
        abar = schedule.alphas_cumprod
        lam = 0.5 * (abar.log() - (1 - abar).log())  # (T,) log(alpha/sigma), decreasing in t
        grid = torch.linspace(float(lam[-1]), float(lam[0]), steps, dtype=torch.float64)
        near = sorted(int(t) for t in (lam[None, :] - grid[:, None]).abs().argmin(1))
        ts = torch.zeros(steps, dtype=torch.float64)
        for i, t in enumerate(near):  # near t = 0 log-SNR moves fast: push collisions up by one
            ts[i] = min(max(t, int(ts[i - 1]) + 1 if i else 0), T - steps + i)
    else:
        raise ConfigError(
            f"sampler spacing={spacing!r} is not a timestep spacing; "
            "choose linspace, leading, trailing or logsnr"
        )
    out = sorted({int(t) for t in ts}, reverse=True)
    if len(out) != steps:  # two grid points rounded to one timestep: the step count would shrink
        raise ConfigError(
            f"sampler spacing={spacing!r} gives only {len(out)} distinct timesteps for steps={steps} "
            f"of T={T}; use spacing=linspace or fewer steps"
        )
    return out


def _noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


class Sampler:
    """Base: ``steps`` (None = T) on a ``spacing`` of the schedule; subclasses implement ``step``."""

    def __init__(self, steps: int | None = None, spacing: str = "linspace") -> None:
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, int) or steps < 1
        ):
            raise ConfigError(
                f"sampler steps={steps!r} must be a positive integer (or null: all T)"
            )
        self.steps, self.spacing = steps, spacing
        self.timesteps: list[int] = []

    def spec(self) -> dict:
        """This sampler as primitives: ``{"_target_": "module.Class", **kwargs}``."""
        cls = type(self)
        return {"_target_": f"{cls.__module__}.{cls.__qualname__}", **self.kwargs()}

    def kwargs(self) -> dict:
        return {"steps": self.steps, "spacing": self.spacing}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.kwargs().items())})"

    def set_timesteps(self, schedule: NoiseSchedule) -> None:
        """Choose the timesteps for ``schedule`` and reset any state of a previous run."""
        self.schedule = schedule
        self.timesteps = spaced_timesteps(schedule, self.steps or schedule.timesteps, self.spacing)

    def next_timestep(self, i: int) -> int:
        """The timestep step ``i`` lands on (``-1``: the clean sample)."""
        return self.timesteps[i + 1] if i + 1 < len(self.timesteps) else -1

    def abar(self, t: int) -> float:
        """``alphas_cumprod[t]`` in float64 (``t = -1``: 1)."""
        return 1.0 if t < 0 else float(self.schedule.alphas_cumprod[t])

    def step(
        self,
        x0: torch.Tensor,
        eps: torch.Tensor,
        i: int,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``x`` at ``timesteps[i]`` -> ``x`` at ``next_timestep(i)`` from the estimates ``x0``, ``eps``."""
        raise NotImplementedError


class DDPM(Sampler):
    """Ancestral DDPM (Ho et al. 2020): ``x_s ~ q(x_s | x_t, x0_hat)`` between consecutive timesteps.

    With ``steps < T`` it runs on a strided sub-sequence, with the effective
    ``beta = 1 - abar_t / abar_s`` of each stride (the DDPM posterior of the coarser chain).
    """

    def step(self, x0, eps, i, x, generator=None):
        t, s = self.timesteps[i], self.next_timestep(i)
        a_t, a_s = self.abar(t), self.abar(s)
        beta = 1 - a_t / a_s
        coef_x0 = math.sqrt(a_s) * beta / (1 - a_t)
        coef_xt = math.sqrt(a_t / a_s) * (1 - a_s) / (1 - a_t)
        mean = coef_x0 * x0 + coef_xt * x
        if s < 0:
            return mean
        return mean + math.sqrt(beta * (1 - a_s) / (1 - a_t)) * _noise(x, generator)


class DDIM(Sampler):
    """DDIM (Song et al. 2021): ``eta=0`` deterministic; ``eta=1`` with all steps is ancestral DDPM."""

    def __init__(self, steps: int | None = 50, eta: float = 0.0, spacing: str = "linspace") -> None:
        super().__init__(steps, spacing)
        if not 0.0 <= eta <= 1.0:
            raise ConfigError(f"DDIM eta={eta} must be between 0 and 1")
        self.eta = float(eta)

    def kwargs(self) -> dict:
        return {"steps": self.steps, "eta": self.eta, "spacing": self.spacing}

    def step(self, x0, eps, i, x, generator=None):
        t, s = self.timesteps[i], self.next_timestep(i)
        a_t, a_s = self.abar(t), self.abar(s)  # Python floats (float64): no per-step tensors
        sigma = self.eta * math.sqrt(max((1 - a_s) / (1 - a_t) * (1 - a_t / a_s), 0.0))
        x = math.sqrt(a_s) * x0 + math.sqrt(max(1 - a_s - sigma**2, 0.0)) * eps
        if s >= 0 and self.eta > 0:
            x = x + sigma * _noise(x, generator)
        return x


class DPMSolverPP(Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022): second-order multistep ODE solver on data predictions.

    One network call per step; the first step and the last one (to the clean sample) are
    first-order. ``spacing=logsnr`` (default) or ``trailing``: with ``linspace`` the last step
    jumps from a still-noisy timestep and accuracy stops improving with more steps.
    """

    def __init__(self, steps: int | None = 20, spacing: str = "logsnr") -> None:
        super().__init__(steps, spacing)
        self._prev: tuple[torch.Tensor, float] | None = None

    def set_timesteps(self, schedule: NoiseSchedule) -> None:
        super().set_timesteps(schedule)
        self._prev = None  # (x0 of the previous step, its lambda)

    def _lambda(self, t: int) -> float:
        a = self.abar(t)
        return 0.5 * (math.log(a) - math.log(1 - a))

    def step(self, x0, eps, i, x, generator=None):
        t, s = self.timesteps[i], self.next_timestep(i)
        if s < 0:  # to sigma = 0: the data prediction itself
            return x0
        lam_t, lam_s = self._lambda(t), self._lambda(s)
        a_t, a_s = self.abar(t), self.abar(s)
        h = lam_s - lam_t
        ratio = math.sqrt((1 - a_s) / (1 - a_t))  # sigma_s / sigma_t
        phi = math.sqrt(a_s) * math.expm1(-h)  # alpha_s (e^{-h} - 1)
        d = x0
        if self._prev is not None:
            x0_prev, lam_prev = self._prev
            r = (lam_t - lam_prev) / h
            d = x0 + (x0 - x0_prev) / (2 * r)
        self._prev = (x0, lam_t)
        return ratio * x - phi * d


@torch.no_grad()
def run_sampler(
    sampler: Sampler,
    denoise: Denoiser,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    *,
    clip: float | None = 1.0,
    project: Projection | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run ``sampler`` from noise ``x`` (at ``T-1``) to ``x_0``; ``len(sampler.timesteps)`` denoiser calls.

    ``denoise(x_t, t)`` returns the schedule's prediction target for timesteps ``t`` ``(B,)``;
    ``clip`` clamps the ``x0`` estimates; ``project(x, s)`` runs after each step (inpainting).
    """
    sampler.set_timesteps(schedule)
    for i, t in enumerate(sampler.timesteps):
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x0, eps = schedule.to_x0_eps(x, denoise(x, tt), tt, clip)
        x = sampler.step(x0, eps, i, x, generator)
        if project is not None:
            x = project(x, sampler.next_timestep(i))
    return x
