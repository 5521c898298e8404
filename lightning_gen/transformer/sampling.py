"""Autoregressive sampling: temperature, top-k, top-p (nucleus) and classifier-free guidance.

Plain functions over a network with ``forward(tokens, cache=None) -> logits (B, T, V)`` and
``new_cache()`` (``networks.transformer.DecoderOnly``).
"""

from __future__ import annotations

import torch

from lightning_gen.errors import ConfigError


def check_sampling(
    temperature: float, top_k: int | None, top_p: float | None, guidance_scale: float = 1.0
) -> None:
    """Raise ConfigError naming the option when a sampling option is out of range."""
    if not temperature > 0:
        raise ConfigError(f"temperature={temperature} must be > 0")
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
        raise ConfigError(f"top_k={top_k} must be a positive integer or null")
    if top_p is not None and not 0 < top_p <= 1:
        raise ConfigError(f"top_p={top_p} must be in (0, 1] or null")
    if guidance_scale < 0:
        raise ConfigError(f"guidance_scale={guidance_scale} must be >= 0 (1 = no guidance)")


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Set logits ``(B, V)`` outside the top-k / the smallest set with probability >= top_p to -inf."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(int(top_k), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = cum - sorted_logits.softmax(-1) >= top_p  # keeps the token that crosses top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def pick(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
         top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """One token per row ``(B,)`` from logits ``(B, V)``."""
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def generate(
    net: torch.nn.Module,
    prefix: torch.Tensor,
    steps: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    uncond_prefix: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
) -> torch.Tensor:
    """Append ``steps`` sampled tokens to ``prefix (B, P)``; returns ``(B, P + steps)``.

    With ``uncond_prefix (B, P)`` and ``guidance_scale != 1`` the logits are
    ``uncond + s * (cond - uncond)`` (classifier-free guidance; both halves run as one batch).
    ``use_cache=False`` re-reads the whole sequence at every step (same tokens, quadratic cost).
    """
    guided = uncond_prefix is not None and guidance_scale != 1.0
    seq = torch.cat([prefix, uncond_prefix]) if guided else prefix  # (B or 2B, P)
    b = len(prefix)
    cache = net.new_cache() if use_cache else None
    new = seq
    for _ in range(steps):
        logits = net(new, cache=cache)[:, -1] if use_cache else net(seq)[:, -1]  # (B', V)
        if guided:
            cond, uncond = logits[:b], logits[b:]
            logits = uncond + guidance_scale * (cond - uncond)
        token = pick(logits, temperature, top_k, top_p, generator)  # (B,)
        token = torch.cat([token, token]) if guided else token
        seq = torch.cat([seq, token[:, None]], 1)
        new = token[:, None]
    return seq[:b]
