"""VQ-VAE parts: conv encoder to a grid of vectors, vector quantiser (codebook), conv decoder.

Images ``(B, C, S, S)`` in ``[-1, 1]`` -> latents ``(B, D, S/2^L, S/2^L)`` -> token grid
``(B, h, w)`` of codebook indices -> images. No Lightning here.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from lightning_gen.networks.conv import check_downsampling


class GridEncoder(nn.Module):
    """``(B, C, S, S)`` -> ``(B, D, S/2^L, S/2^L)``: ``L = len(widths)`` stride-2 convs, then a 1x1 conv."""

    def __init__(self, in_channels: int, image_size: int, widths: list[int], code_dim: int) -> None:
        super().__init__()
        check_downsampling(image_size, len(widths))
        layers, ch = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(ch, w, 4, 2, 1), nn.GroupNorm(min(8, w), w), nn.SiLU()]
            ch = w
        layers += [nn.Conv2d(ch, ch, 3, 1, 1), nn.SiLU(), nn.Conv2d(ch, code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GridDecoder(nn.Module):
    """``(B, D, h, w)`` -> ``(B, C, h*2^L, w*2^L)`` in ``[-1, 1]`` (tanh)."""

    def __init__(self, code_dim: int, out_channels: int, widths: list[int]) -> None:
        super().__init__()
        rev = list(widths)[::-1]
        layers = [nn.Conv2d(code_dim, rev[0], 3, 1, 1), nn.SiLU()]
        for w_in, w_out in zip(rev, rev[1:] + [rev[-1]], strict=True):
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1),
                nn.GroupNorm(min(8, w_out), w_out),
                nn.SiLU(),
            ]
        layers += [nn.Conv2d(rev[-1], out_channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VectorQuantizer(nn.Module):
    """Nearest-codebook quantisation with the straight-through estimator.

    Loss: ``||sg(z) - e||^2 + beta ||z - sg(e)||^2`` (codebook + commitment); with ``ema=True`` the
    codebook is instead an exponential moving average of the vectors assigned to it (decay
    ``decay``) and only the commitment term is a loss. A code unused for ``restart_after``
    consecutive training steps is restarted at a random encoder output of the current batch
    (``restart_after=0`` turns restarts off). Under DDP, counts are summed over ranks and rank 0's
    restarts are broadcast, so every rank keeps the same codebook.
    """

    def __init__(self, num_codes: int, code_dim: int, beta: float = 0.25, ema: bool = False,
                 decay: float = 0.99, restart_after: int = 100) -> None:  # fmt: skip
        super().__init__()
        self.num_codes, self.beta, self.ema, self.decay = num_codes, beta, ema, decay
        self.restart_after = restart_after
        self.codebook = nn.Parameter(torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes),
                                     requires_grad=not ema)  # fmt: skip
        self.register_buffer("unused_steps", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("ema_size", torch.ones(num_codes))
        self.register_buffer("ema_sum", self.codebook.detach().clone())

    def indices(self, flat: torch.Tensor) -> torch.Tensor:
        """Nearest code of every row of ``flat (N, D)`` -> ``(N,)``."""
        e = self.codebook
        dist2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)[None]
        return dist2.argmin(1)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Code vectors of a token grid ``(B, h, w)`` -> ``(B, D, h, w)``."""
        return self.codebook[idx].permute(0, 3, 1, 2)

    def forward(
        self, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``z (B, D, h, w)`` -> (quantised ``z_q`` with straight-through gradients, loss, tokens
        ``(B, h, w)``, per-code counts ``(K,)`` of this batch)."""
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)  # (N, D)
        idx = self.indices(flat.detach())
        counts = torch.bincount(idx, minlength=self.num_codes).float()
        if self.training:
            self._update(flat.detach(), idx, counts)
        q = self.codebook[idx]  # (N, D)
        loss = self.beta * F.mse_loss(flat, q.detach())
        if not self.ema:
            loss = loss + F.mse_loss(q, flat.detach())
        q = flat + (q - flat).detach()  # straight-through: gradients pass to the encoder unchanged
        return q.view(b, h, w, d).permute(0, 3, 1, 2), loss, idx.view(b, h, w), counts

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor, counts: torch.Tensor) -> None:
        onehot = F.one_hot(idx, self.num_codes).type(flat.dtype)  # (N, K)
        sums = onehot.t() @ flat  # (K, D)
        counts = counts.clone()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        if self.ema:
            self.ema_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            n = self.ema_size.sum()
            size = (self.ema_size + 1e-5) / (n + self.num_codes * 1e-5) * n  # Laplace smoothing
            self.codebook.data.copy_(self.ema_sum / size[:, None])
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        if self.restart_after > 0:
            self.restart_dead(flat)

    @torch.no_grad()
    def restart_dead(self, flat: torch.Tensor) -> int:
        """Move codes unused for ``restart_after`` steps onto random rows of ``flat``; returns how many."""
        dead = (self.unused_steps >= self.restart_after).nonzero()[:, 0]
        if len(dead) == 0:
            return 0
        pick = torch.randint(0, len(flat), (len(dead),), device=flat.device)
        new = flat[pick] + 1e-3 * torch.randn_like(flat[pick])
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(new, 0)
        self.codebook.data[dead] = new
        self.ema_sum[dead], self.ema_size[dead] = new, 1.0
        self.unused_steps[dead] = 0
        return len(dead)
