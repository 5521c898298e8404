"""Pure tensor math of the VAE: reparameterisation, KL to N(0, I), the (beta-)ELBO."""

from __future__ import annotations

import torch


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``; shapes ``(B, D)``."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dims: ``(B,)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def beta_elbo_loss(
    recon_per_pixel: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    num_pixels: int,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative beta-ELBO per image.

    ``recon_per_pixel`` ``(B,)`` is a mean per-pixel reconstruction loss; it is summed over the
    ``num_pixels`` so that it balances the KL summed over latent dims. Returns
    ``(loss, recon, kl)``, each ``(B,)``.
    """
    recon = recon_per_pixel * num_pixels
    kl = kl_to_standard_normal(mu, logvar)
    return recon + beta * kl, recon, kl
