"""Discrete-time Gaussian noise schedule (DDPM): plain tensor math, not an ``nn.Module``.

``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` for ``t = 0..T-1``. The schedule also turns
a network's prediction (epsilon, v or x0, chosen in config) into ``x0`` / ``epsilon`` estimates and
gives the posterior ``q(x_{t-1} | x_t, x_0)`` the samplers need.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lightning_gen.errors import ConfigError


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al. (2020) linear betas ``(T,)``, rescaled so that ``T * beta`` is the same for any T.

    Short schedules (T < 1000) take larger steps, capped at 0.999, so ``abar_{T-1}`` stays near 0.
    """
    scale = 1000.0 / timesteps
    return torch.linspace(
        beta_start * scale, beta_end * scale, timesteps, dtype=torch.float64
    ).clamp(max=0.999)


def cosine_betas(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021) cosine schedule: ``abar(t) = cos^2(((t/T + s)/(1 + s)) pi/2)``; ``(T,)``."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    abar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


BETA_SCHEDULES: dict[str, Callable[[int], torch.Tensor]] = {
    "linear": linear_betas,
    "cosine": cosine_betas,
}
PREDICTIONS = ("epsilon", "v", "x0")


class NoiseSchedule:
    """Betas and derived quantities for ``timesteps`` steps, plus the three verbs the samplers use.

    ``add_noise(x0, eps, t)``, ``target(x0, eps, t)`` (what the network learns) and
    ``to_x0_eps(x_t, pred, t)`` (invert a prediction). All tables are float64 ``(T,)`` on the CPU;
    lookups return float32 on the device of ``t``.
    """

    def __init__(
        self, timesteps: int = 1000, schedule: str = "linear", prediction: str = "epsilon"
    ) -> None:
        if schedule not in BETA_SCHEDULES:
            raise ConfigError(
                f"model.schedule={schedule!r} is not a noise schedule; choose one of {sorted(BETA_SCHEDULES)}"
            )
        if prediction not in PREDICTIONS:
            raise ConfigError(
                f"model.prediction={prediction!r} is not a prediction target; choose one of {list(PREDICTIONS)}"
            )
        if timesteps < 2:
            raise ConfigError(f"model.timesteps={timesteps} must be at least 2")
        self.timesteps, self.schedule, self.prediction = timesteps, schedule, prediction
        self.betas = BETA_SCHEDULES[schedule](timesteps)  # (T,)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)  # abar_t
        self.alphas_cumprod_prev = torch.cat(
            [torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]]
        )
        # posterior q(x_{t-1} | x_t, x_0): variance beta~_t and mean coefficients on x_0 and x_t
        self.posterior_variance = (
            self.betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        )
        self.posterior_mean_coef_x0 = (
            self.betas * self.alphas_cumprod_prev.sqrt() / (1 - self.alphas_cumprod)
        )
        self.posterior_mean_coef_xt = (
            (1 - self.alphas_cumprod_prev) * self.alphas.sqrt() / (1 - self.alphas_cumprod)
        )
        self.abar_with_end = torch.cat(
            [self.alphas_cumprod, torch.ones(1, dtype=torch.float64)]
        )  # index -1 -> 1
        self._device_tables: dict[tuple[str, torch.device], torch.Tensor] = {}

    def _gather(self, name: str, t: torch.Tensor, ndim: int) -> torch.Tensor:
        """Table ``name`` at ``t`` as float32 on t's device, shaped ``(B, 1, ..., 1)`` for ``ndim`` dims.

        Each table is copied to a device once (float32) and reused: lookups sit on the training and
        sampling hot paths."""
        key = (name, t.device)
        table = self._device_tables.get(key)
        if table is None:
            table = self._device_tables[key] = getattr(self, name).to(t.device, torch.float32)
        return table[t.long()].reshape(-1, *([1] * (ndim - 1)))

    def __repr__(self) -> str:
        return f"NoiseSchedule(timesteps={self.timesteps}, schedule={self.schedule!r}, prediction={self.prediction!r})"

    # -- lookups --------------------------------------------------------------------------------
    def abar(self, t: torch.Tensor, ndim: int = 1) -> torch.Tensor:
        """``alphas_cumprod[t]`` broadcastable to a tensor of ``ndim`` dims; ``t = -1`` means ``abar = 1``."""
        return self._gather("abar_with_end", t, ndim)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio ``abar_t / (1 - abar_t)`` per timestep ``(B,)``."""
        a = self.abar(t)
        return a / (1 - a)

    def sample_timesteps(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``n`` uniform training timesteps in ``[0, T)``; ``(n,)`` long."""
        return torch.randint(0, self.timesteps, (n,), device=device)

    # -- the verbs -------------------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Sample ``x_t ~ q(x_t | x_0)``: ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``; shape of ``x0``."""
        a = self.abar(t, x0.ndim)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network is trained to predict at ``x_t``: epsilon, ``v = sqrt(abar) eps - sqrt(1-abar) x0`` or x0."""
        if self.prediction == "epsilon":
            return noise
        if self.prediction == "x0":
            return x0
        a = self.abar(t, x0.ndim)
        return a.sqrt() * noise - (1 - a).sqrt() * x0

    def to_x0_eps(
        self, x_t: torch.Tensor, pred: torch.Tensor, t: torch.Tensor, clip: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn a network prediction at ``x_t`` into estimates ``(x0_hat, eps_hat)``, both ``x_t``'s shape.

        ``clip`` clamps ``x0_hat`` to ``[-clip, clip]`` (images live in ``[-1, 1]``) and recomputes eps.
        """
        a = self.abar(t, x_t.ndim)
        if self.prediction == "epsilon":
            x0 = (x_t - (1 - a).sqrt() * pred) / a.sqrt()
        elif self.prediction == "x0":
            x0 = pred
        else:  # v
            x0 = a.sqrt() * x_t - (1 - a).sqrt() * pred
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        return x0, eps

    def posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``q(x_{t-1} | x_t, x_0)``; mean has ``x_t``'s shape, variance ``(B, 1, ...)``."""
        n = x_t.ndim
        mean = (
            self._gather("posterior_mean_coef_x0", t, n) * x0
            + self._gather("posterior_mean_coef_xt", t, n) * x_t
        )
        return mean, self._gather("posterior_variance", t, n)
