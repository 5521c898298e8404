"""Encoder-decoder Transformer for sequence-to-sequence tasks (digit strings by default).

Batches ``(src, tgt)`` as made by ``text.digits.DigitTaskDataModule`` (pad 0, bos 1, eos 2).
Logs ``{stage}/loss`` (teacher-forced cross-entropy) and ``{stage}/exact_match`` (fraction of
greedy decodings equal to the target, on val/test). Decoding: ``greedy`` (key-value cache) and
``beam_search``; ``generate_text(prompts)`` decodes source strings (``beam_size`` 1 = greedy).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from lightning_gen.contracts import seeded_rng
from lightning_gen.networks.transformer import EncoderDecoder
from lightning_gen.text.digits import BOS, EOS, PAD, digit_tokenizer
from lightning_gen.text.tokenizers import from_spec
from lightning_gen.validate import check_model_args


def strip(ids: list[int]) -> list[int]:
    """Tokens after <bos> up to (not including) the first <eos>."""
    ids = ids[1:] if ids and ids[0] == BOS else ids
    return ids[: ids.index(EOS)] if EOS in ids else ids


class Seq2Seq(L.LightningModule):
    """Transformer encoder-decoder; ``vocab_size``, ``max_len`` and ``tokenizer`` come from the data."""

    def __init__(self, vocab_size: int = 14, max_len: int = 32, tokenizer: dict[str, Any] | None = None,
                 dim: int = 128, depth: int = 3, heads: int = 4, dropout: float = 0.0, beam_size: int = 1,
                 lr: float = 1e-3, weight_decay: float = 0.01) -> None:  # fmt: skip
        check_model_args(locals())  # ranges of every numeric key (lightning_gen/validate.py)
        super().__init__()
        tokenizer = tokenizer or digit_tokenizer().spec()
        self.save_hyperparameters()
        self.tokenizer = from_spec(tokenizer)
        self.net = EncoderDecoder(vocab_size, max_len, dim, depth, heads, dropout, PAD)

    def _loss(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        logits = self.net(src, tgt[:, :-1])  # (B, T-1, V)
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=PAD)

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Teacher-forced cross-entropy of a batch ``(source, target)`` (``HasLoss``); dropout (in
        training mode) draws from ``generator`` when one is given."""
        with seeded_rng(generator, self.device):
            return self._loss(*batch)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(*batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "test")

    def _eval(self, batch, stage: str) -> None:
        src, tgt = batch
        pred = self.greedy(src, tgt.shape[1] + 1)
        exact = torch.tensor(
            [strip(p) == strip(t) for p, t in zip(pred.tolist(), tgt.tolist(), strict=True)]
        )
        self.log(f"{stage}/loss", self._loss(src, tgt), prog_bar=True, sync_dist=True)
        self.log(
            f"{stage}/exact_match",
            exact.float().mean().to(self.device),
            prog_bar=True,
            sync_dist=True,
        )

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
        """Greedy decoding ``(B, <= max_len)`` starting with <bos>; stops when every row has <eos>."""
        max_len = min(max_len or self.hparams.max_len, self.hparams.max_len)
        memory, padding = self.net.encode(src)
        seq = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
        cache, done = (
            self.net.new_cache(),
            torch.zeros(len(src), dtype=torch.bool, device=src.device),
        )
        for _ in range(max_len - 1):
            nxt = self.net.decode(seq[:, -1:], memory, padding, cache)[:, -1].argmax(-1)
            nxt = nxt.masked_fill(done, PAD)
            seq, done = torch.cat([seq, nxt[:, None]], 1), done | (nxt == EOS)
            if done.all():
                break
        return seq

    @torch.no_grad()
    def beam_search(
        self, src: torch.Tensor, beam_size: int = 4, max_len: int | None = None
    ) -> list[list[int]]:
        """Best hypothesis per source row by total log-probability (beam of ``beam_size``)."""
        max_len = min(max_len or self.hparams.max_len, self.hparams.max_len)
        results = []
        for row in src:
            memory, padding = self.net.encode(row[None])
            beams: list[tuple[float, list[int]]] = [(0.0, [BOS])]
            for _ in range(max_len - 1):
                live = [b for b in beams if b[1][-1] != EOS]
                if not live:
                    break
                tgt = torch.tensor([b[1] for b in live], device=src.device)
                logp = self.net.decode(tgt, memory.expand(len(live), -1, -1),
                                       padding.expand(len(live), -1))[:, -1].log_softmax(-1)  # fmt: skip
                top = logp.topk(beam_size, -1)
                cand = [b for b in beams if b[1][-1] == EOS]
                for i, (score, ids) in enumerate(live):
                    cand += [
                        (score + float(v), ids + [int(t)])
                        for v, t in zip(top.values[i], top.indices[i], strict=True)
                    ]
                beams = sorted(cand, key=lambda b: -b[0])[:beam_size]
            results.append(max(beams, key=lambda b: b[0])[1])
        return results

    def decode_batch(self, src: torch.Tensor, beam_size: int | None = None) -> list[list[int]]:
        """Decoded target tokens (without <bos>/<eos>) of every source row."""
        k = beam_size or self.hparams.beam_size
        seqs = self.greedy(src).tolist() if k == 1 else self.beam_search(src, k)
        return [strip(s) for s in seqs]

    @torch.no_grad()
    def generate_text(self, prompts: list[str], beam_size: int | None = None) -> list[str]:
        """``"<source> -> <decoded target>"`` for each source string (deterministic decoding)."""
        from lightning_gen.text.digits import pad_batch

        src = pad_batch([self.tokenizer.encode(p) + [EOS] for p in prompts]).to(self.device)
        return [
            f"{p} -> {self.tokenizer.decode(ids)}"
            for p, ids in zip(prompts, self.decode_batch(src, beam_size), strict=True)
        ]

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
