"""Transformer language model over byte/character tokens.

Logs ``{stage}/loss`` (cross-entropy in nats per token), ``{stage}/bits_per_<unit>`` (``loss /
ln 2``; unit = byte or char, from the tokenizer) and ``{stage}/perplexity`` (``exp(loss)``).
``generate_text(prompts)`` continues prompts with temperature / top-k / top-p sampling and a
key-value cache; the tokenizer's spec is a hyper-parameter, so a checkpoint encodes prompts alone.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from lightning_gen.contracts import seeded_rng
from lightning_gen.networks.transformer import DecoderOnly
from lightning_gen.text.tokenizers import ByteTokenizer, from_spec
from lightning_gen.transformer.sampling import check_sampling, generate
from lightning_gen.validate import check_model_args


class LanguageModel(L.LightningModule):
    """Decoder-only Transformer; ``vocab_size``, ``block_size`` and ``tokenizer`` come from the data."""

    def __init__(
        self,
        vocab_size: int = 256,
        block_size: int = 128,
        tokenizer: dict[str, Any] | None = None,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        dropout: float = 0.1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
    ) -> None:
        check_model_args(locals())  # ranges of every numeric key (lightning_gen/validate.py)
        super().__init__()
        check_sampling(temperature, top_k, top_p)
        tokenizer = tokenizer or ByteTokenizer().spec()
        self.save_hyperparameters()
        self.tokenizer = from_spec(tokenizer)
        self.net = DecoderOnly(vocab_size, vocab_size, block_size, dim, depth, heads, dropout)

    def sampling_options(self) -> dict[str, Any]:
        """Default sampling options: temperature, top_k, top_p."""
        return {k: self.hparams[k] for k in ("temperature", "top_k", "top_p")}

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens)

    def _loss(self, batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x).flatten(0, 1), y.flatten())

    def loss(self, batch: Any, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Next-token cross-entropy of a batch ``(x, y)`` (``HasLoss``); dropout (in training
        mode) draws from ``generator`` when one is given."""
        with seeded_rng(generator, self.device):
            return self._loss(batch)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, "test")

    def _eval(self, batch, stage: str) -> None:
        loss = self._loss(batch)
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)
        self.log(f"{stage}/bits_per_{self.tokenizer.unit}", loss / math.log(2), sync_dist=True)
        self.log(f"{stage}/perplexity", loss.exp(), sync_dist=True)

    @torch.no_grad()
    def generate_text(self, prompts: list[str], max_new_tokens: int = 200, temperature: float | None = None,
                      top_k: int | None = None, top_p: float | None = None,
                      generator: torch.Generator | None = None) -> list[str]:  # fmt: skip
        """Each prompt followed by ``max_new_tokens`` sampled tokens (decoded; the prompt included).

        Prompts are cropped to their last ``block_size - max_new_tokens`` tokens when longer.
        """
        o = self.sampling_options()
        temperature = o["temperature"] if temperature is None else temperature
        top_k, top_p = (
            (o["top_k"] if top_k is None else top_k),
            (o["top_p"] if top_p is None else top_p),
        )
        check_sampling(temperature, top_k, top_p)
        room = self.hparams.block_size - 1
        new = min(max_new_tokens, room)
        out = []
        for prompt in prompts:
            ids = self.tokenizer.encode(prompt)[-(self.hparams.block_size - new) :] or [0]
            prefix = torch.tensor([ids], dtype=torch.long, device=self.device)
            seq = generate(self.net, prefix, new, temperature, top_k, top_p, generator)
            out.append(self.tokenizer.decode(seq[0].tolist()))
        return out

    def configure_optimizers(self):
        opt = torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        warm = max(1, self.hparams.warmup_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
