"""Adversarial losses and regularisers as pure functions of discriminator outputs (logits).

``d_loss(real_logits, fake_logits) -> scalar`` and ``g_loss(fake_logits) -> scalar``; one pair per
objective, chosen by name through ``get_adversarial``. Penalties take the discriminator as a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

Critic = Callable[[torch.Tensor], torch.Tensor]


# -- non-saturating (DCGAN) ----------------------------------------------------------------
def ns_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``-log D(x) - log(1 - D(G(z)))`` with ``D = sigmoid(logits)``, averaged."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def ns_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-log D(G(z))``."""
    return F.softplus(-fake).mean()


# -- hinge ---------------------------------------------------------------------------------
def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(z))]``."""
    return -fake.mean()


# -- Wasserstein ---------------------------------------------------------------------------
def wgan_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Critic loss ``E[D(G(z))] - E[D(x)]`` (add a gradient penalty)."""
    return fake.mean() - real.mean()


def wgan_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(z))]``."""
    return -fake.mean()


# -- least squares (CycleGAN, LSGAN) -------------------------------------------------------
def ls_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2]``."""
    return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())


def ls_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """``E[(D(G(z)) - 1)^2]``."""
    return (fake - 1).pow(2).mean()


class Adversarial(NamedTuple):
    """A discriminator loss and its generator loss."""

    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]


ADVERSARIAL: dict[str, Adversarial] = {
    "non_saturating": Adversarial(ns_d_loss, ns_g_loss),
    "hinge": Adversarial(hinge_d_loss, hinge_g_loss),
    "wgan": Adversarial(wgan_d_loss, wgan_g_loss),
    "least_squares": Adversarial(ls_d_loss, ls_g_loss),
}


def get_adversarial(name: str) -> Adversarial:
    """Look up an adversarial objective by name; a clear error names the valid choices."""
    from lightning_gen.errors import ConfigError

    if name not in ADVERSARIAL:
        raise ConfigError(
            f"model.loss={name!r} is not an adversarial loss; choose one of {sorted(ADVERSARIAL)}"
        )
    return ADVERSARIAL[name]


# -- regularisers --------------------------------------------------------------------------
def gradient_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` on ``x_hat = eps*real + (1-eps)*fake``.

    ``real``, ``fake``: ``(B, C, H, W)``; ``eps``: ``(B, 1, 1, 1)`` in ``[0, 1]`` (uniform if None).
    The graph is kept (``create_graph``) so the penalty trains the critic.
    """
    if eps is None:
        eps = torch.rand(
            real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype
        )
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(critic: Critic, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty ``E[||grad_x D(x)||^2]`` on real images ``(B, C, H, W)`` (multiply by gamma/2)."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def real_fake_accuracy(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fractions of real logits ``> 0`` and of fake logits ``< 0`` (for WGAN: the critic's sign)."""
    return (real > 0).float().mean(), (fake < 0).float().mean()


def cycle_loss(
    g_ab: Callable[[torch.Tensor], torch.Tensor],
    g_ba: Callable[[torch.Tensor], torch.Tensor],
    a: torch.Tensor,
    b: torch.Tensor,
) -> torch.Tensor:
    """Cycle consistency ``|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1`` (means over pixels)."""
    return (g_ba(g_ab(a)) - a).abs().mean() + (g_ab(g_ba(b)) - b).abs().mean()


def identity_loss(
    g_ab: Callable[[torch.Tensor], torch.Tensor],
    g_ba: Callable[[torch.Tensor], torch.Tensor],
    a: torch.Tensor,
    b: torch.Tensor,
) -> torch.Tensor:
    """Identity loss ``|G_AB(b) - b|_1 + |G_BA(a) - a|_1``: a generator leaves its target domain alone."""
    return (g_ab(b) - b).abs().mean() + (g_ba(a) - a).abs().mean()
