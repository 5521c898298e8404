"""Drawing generated images in seeded chunks, sharded over ranks, and extracting their features.

Chunk ``i`` (of ``chunk_size`` images) is always drawn under seed ``chunk_seed(seed, i)``; rank ``r``
draws a contiguous block of chunks. Every rank draws a distinct share, and gathering the ranks' shares
in rank order gives the same sample set *in the same order* whatever the number of ranks, so DDP
and single-process numbers agree (KID subsets and IS splits included).
"""

from __future__ import annotations

from typing import Any

import torch

from lightning_gen.contracts import takes_condition
from lightning_gen.images import to_uint8
from lightning_gen.metrics.extractor import FeatureExtractor


def chunk_seed(seed: int, index: int) -> int:
    """The RNG seed of chunk ``index`` of a protocol seeded with ``seed``."""
    return (seed * 1_000_003 + index) % (2**63)


def rank_chunks(
    n: int, chunk_size: int, rank: int = 0, world_size: int = 1
) -> list[tuple[int, int]]:
    """``(chunk index, chunk size)`` pairs this rank draws out of ``n`` images."""
    sizes = [min(chunk_size, n - s) for s in range(0, n, chunk_size)]
    first, last = rank * len(sizes) // world_size, (rank + 1) * len(sizes) // world_size
    return [(i, sizes[i]) for i in range(first, last)]


def extract_images(
    extractor: FeatureExtractor, images: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features ``(N, D)`` and logits ``(N, K)`` or None of ``uint8`` images ``(N, C, H, W)``."""
    device = next(iter(extractor.parameters()), torch.zeros(())).device
    parts = [extractor(b.to(device)) for b in images.split(batch_size)]
    feats = torch.cat([f for f, _ in parts])
    logits = None if parts[0][1] is None else torch.cat([lg for _, lg in parts])
    return feats, logits


@torch.no_grad()
def sample_features(
    model: Any,
    extractor: FeatureExtractor,
    n: int,
    chunk_size: int = 250,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    label_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This rank's share of ``n`` samples of ``model.sample``, as features ``(n_r, D)`` and logits.

    With ``label_weights (K,)`` (the data's label counts) and a model whose ``sample`` takes a
    condition, labels are drawn from that distribution, per chunk, under the chunk's seed.
    """
    device = getattr(model, "device", torch.device("cpu"))
    conditional = label_weights is not None and takes_condition(model.sample)
    feats, logits = [], []
    for index, size in rank_chunks(n, chunk_size, rank, world_size):
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(chunk_seed(seed, index))
            labels = (
                torch.multinomial(label_weights.double(), size, replacement=True).to(device)
                if conditional
                else None
            )
            images = model.sample(size, condition=labels)  # (size, C, H, W) in [-1, 1]
        f, lg = extract_images(extractor, to_uint8(images))
        feats.append(f)
        if lg is not None:
            logits.append(lg)
    d = extractor.num_features
    if not feats:  # more ranks than chunks
        return torch.zeros(0, d), None
    return torch.cat(feats), (torch.cat(logits) if logits else None)
