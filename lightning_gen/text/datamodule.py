"""``TextDataModule``: a corpus tokenised and packed into fixed-length blocks for language modelling.

Deterministic: the documents are ordered by a seeded permutation, joined with a blank line,
tokenised, and the token stream is cut into contiguous train / val / test parts (in that order),
so the same seed gives the same splits everywhere. Each part is packed into non-overlapping blocks
of ``block_size`` inputs and the same tokens shifted by one as targets. Batches: ``(x, y)`` long
``(B, block_size)``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_gen.data.resumable import ResumableDataLoader
from lightning_gen.errors import ConfigError, DataError
from lightning_gen.text.tokenizers import ByteTokenizer


def pack_blocks(tokens: torch.Tensor, block_size: int, limit: int | None = None) -> TensorDataset:
    """Inputs/targets ``(N, block_size)`` from a 1-D token stream (the last partial block is dropped)."""
    n = (len(tokens) - 1) // block_size
    if limit:
        n = min(n, limit)
    x = tokens[: n * block_size].view(n, block_size)
    y = tokens[1 : n * block_size + 1].view(n, block_size)
    return TensorDataset(x, y)


class TextDataModule(L.LightningDataModule):
    """Blocks of ``block_size`` tokens from ``source`` (``load() -> list[str]``) and ``tokenizer``.

    ``limit`` keeps at most that many blocks per split (smoke runs).
    """

    def __init__(self, source: Any, tokenizer: Any = None, block_size: int = 128, batch_size: int = 64,
                 val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                 num_workers: int = 0, limit: int | None = None,
                 pin_memory: bool = False) -> None:  # fmt: skip
        super().__init__()
        if not hasattr(source, "load"):
            raise ConfigError(f"data.source must have a load() method; got {type(source).__name__}")
        if block_size < 1 or batch_size < 1:
            raise ConfigError(
                f"data.block_size={block_size} and data.batch_size={batch_size} must be >= 1"
            )
        if not (
            0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1
        ):
            raise ConfigError(f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} "
                              "must be in (0, 1) and sum to less than 1")  # fmt: skip
        self.source, self.tokenizer = source, tokenizer or ByteTokenizer()
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.num_workers, self.limit, self.pin_memory = num_workers, limit, pin_memory
        self.splits: dict[str, TensorDataset] = {}

    def prepare_data(self) -> None:
        if hasattr(self.source, "prepare"):
            self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        docs = [d for d in self.source.load() if d.strip()]
        name = type(self.source).__name__
        if not docs:
            raise DataError(f"{name}: the corpus is empty (no non-blank text); check data.source")
        order = torch.randperm(
            len(docs), generator=torch.Generator().manual_seed(self.seed)
        ).tolist()
        text = "\n\n".join(docs[i] for i in order)
        self.tokenizer.fit(text)
        tokens = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
        n_val, n_test = int(len(tokens) * self.val_fraction), int(len(tokens) * self.test_fraction)
        n_train = len(tokens) - n_val - n_test
        parts = {"train": tokens[:n_train], "val": tokens[n_train : n_train + n_val],
                 "test": tokens[n_train + n_val :]}  # fmt: skip
        for split, part in parts.items():
            self.splits[split] = pack_blocks(part, self.block_size, self.limit)
            if len(self.splits[split]) == 0:
                self.splits = {}
                raise DataError(
                    f"{name}: the {split} split has {len(part)} tokens, fewer than one block of "
                    f"data.block_size={self.block_size} + 1; use a larger corpus or a smaller block_size"
                )

    def model_kwargs(self) -> dict[str, Any]:
        """What the model needs from the data: ``vocab_size``, ``block_size``, the tokenizer's spec."""
        self.setup()
        return {"vocab_size": self.tokenizer.vocab_size, "block_size": self.block_size,
                "tokenizer": self.tokenizer.spec()}  # fmt: skip

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        common = dict(batch_size=self.batch_size, num_workers=self.num_workers,
                      pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0)  # fmt: skip
        if shuffle:
            return ResumableDataLoader(self.splits[split], seed=self.seed, shuffle=True, **common)
        return DataLoader(self.splits[split], **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
