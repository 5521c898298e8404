"""Transformers: a decoder-only causal model and an encoder-decoder with cross-attention.

Tokens are ``long`` tensors ``(B, T)``; logits are ``(B, T, V)``. Every attention layer can keep
a key-value cache (``KVCache``) so that generating ``T`` tokens costs ``O(T)`` layer calls on one
new token each instead of ``O(T^2)`` work re-reading the whole prefix. Pre-norm blocks, learned
positions, GELU MLPs. No Lightning here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Per-layer keys/values ``(B, H, T_past, Dh)`` of the tokens seen so far (self-attention only)."""

    def __init__(self, depth: int) -> None:
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * depth

    @property
    def length(self) -> int:
        """How many positions the cache holds."""
        first = self.layers[0]
        return 0 if first is None else first[0].shape[2]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (beam search reorders hypotheses)."""
        self.layers = [None if kv is None else (kv[0][index], kv[1][index]) for kv in self.layers]


class Attention(nn.Module):
    """Multi-head attention; ``causal`` masks future keys; ``cache`` (self-attention) appends keys/values."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model.dim={dim} must be divisible by model.heads={heads}")
        self.heads, self.dropout = heads, dropout
        self.q, self.kv, self.out = (
            nn.Linear(dim, dim),
            nn.Linear(dim, 2 * dim),
            nn.Linear(dim, dim),
        )

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, H, N, Dh)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        causal: bool = False,
        key_padding: torch.Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        """``x (B, T, D)`` attends to ``memory (B, S, D)`` (cross) or to itself; returns ``(B, T, D)``.

        ``key_padding (B, S)``: True where a key is padding (ignored).
        """
        q = self._split(self.q(x))
        k, v = (self._split(t) for t in self.kv(x if memory is None else memory).chunk(2, -1))
        past = 0
        if cache is not None:
            if cache.layers[layer] is not None:
                pk, pv = cache.layers[layer]
                past = pk.shape[2]
                k, v = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
            cache.layers[layer] = (k, v)
        mask = None
        if causal:  # query i (absolute position past+i) sees keys 0..past+i
            t, s = q.shape[2], k.shape[2]
            mask = torch.ones(t, s, dtype=torch.bool, device=x.device).tril(past)  # (T, S)
        if key_padding is not None:
            keep = ~key_padding[:, None, None, :]  # (B, 1, 1, S)
            mask = keep if mask is None else mask & keep
        drop = self.dropout if self.training else 0.0
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        return self.out(h.transpose(1, 2).flatten(2))  # (B, T, D)


class Block(nn.Module):
    """Pre-norm block: self-attention, optional cross-attention to ``memory``, MLP."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, cross: bool = False) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.norm_x = nn.LayerNorm(dim) if cross else None
        self.cross = Attention(dim, heads, dropout) if cross else None
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout)
        )

    def forward(
        self, x, causal=False, memory=None, memory_padding=None, padding=None, cache=None, layer=0
    ):
        x = x + self.attn(
            self.norm1(x), causal=causal, key_padding=padding, cache=cache, layer=layer
        )
        if self.cross is not None:
            x = x + self.cross(self.norm_x(x), memory=memory, key_padding=memory_padding)
        return x + self.mlp(self.norm2(x))


class Embedding(nn.Module):
    """Token + learned position embeddings; positions start at ``offset`` (the cache length)."""

    def __init__(self, vocab_size: int, max_len: int, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.tok, self.pos, self.max_len = (
            nn.Embedding(vocab_size, dim),
            nn.Embedding(max_len, dim),
            max_len,
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, offset: int = 0) -> torch.Tensor:
        t = tokens.shape[1]
        if offset + t > self.max_len:
            raise ValueError(
                f"sequence of {offset + t} tokens is longer than max_len={self.max_len}"
            )
        pos = torch.arange(offset, offset + t, device=tokens.device)
        return self.drop(self.tok(tokens) + self.pos(pos))  # (B, T, D)


class DecoderOnly(nn.Module):
    """GPT-style causal Transformer: ``tokens (B, T)`` -> logits ``(B, T, out_vocab)``.

    ``in_vocab`` may exceed ``out_vocab`` (extra input-only tokens such as class/start tokens).
    """

    def __init__(self, in_vocab: int, out_vocab: int, max_len: int, dim: int = 128, depth: int = 4,
                 heads: int = 4, dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.embed = Embedding(in_vocab, max_len, dim, dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, out_vocab)

    def new_cache(self) -> KVCache:
        """An empty key-value cache for incremental decoding."""
        return KVCache(len(self.blocks))

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits of the next token at every position; with ``cache`` only the new tokens are fed."""
        x = self.embed(tokens, cache.length if cache is not None else 0)
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, cache=cache, layer=i)
        return self.head(self.norm(x))  # (B, T, V)


class EncoderDecoder(nn.Module):
    """Sequence-to-sequence Transformer: bidirectional encoder, causal decoder with cross-attention."""

    def __init__(self, vocab_size: int, max_len: int, dim: int = 128, depth: int = 3,
                 heads: int = 4, dropout: float = 0.0, pad_id: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.pad_id = pad_id
        self.src_embed = Embedding(vocab_size, max_len, dim, dropout)
        self.tgt_embed = Embedding(vocab_size, max_len, dim, dropout)
        self.encoder = nn.ModuleList(Block(dim, heads, dropout) for _ in range(depth))
        self.decoder = nn.ModuleList(Block(dim, heads, dropout, cross=True) for _ in range(depth))
        self.enc_norm, self.dec_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def new_cache(self) -> KVCache:
        return KVCache(len(self.decoder))

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory ``(B, S, D)`` and its padding mask ``(B, S)`` (True = padding)."""
        padding = src == self.pad_id
        x = self.src_embed(src)
        for block in self.encoder:
            x = block(x, padding=padding)
        return self.enc_norm(x), padding

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, memory_padding: torch.Tensor,
               cache: KVCache | None = None) -> torch.Tensor:  # fmt: skip
        """Logits ``(B, T, V)`` of the next target token at each position of ``tgt (B, T)``."""
        x = self.tgt_embed(tgt, cache.length if cache is not None else 0)
        for i, block in enumerate(self.decoder):
            x = block(
                x, causal=True, memory=memory, memory_padding=memory_padding, cache=cache, layer=i
            )
        return self.head(self.dec_norm(x))

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, T, V)``."""
        memory, padding = self.encode(src)
        return self.decode(tgt, memory, padding)
