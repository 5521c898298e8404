"""Digit-string tasks for sequence-to-sequence models, scored exactly and generated offline.

``reverse`` ("3141" -> "1413"), ``sort`` ("3141" -> "1134") and ``add`` ("12+305" -> "317").
Source strings are drawn from ``seed`` with lengths in ``[min_len, max_len]``; train/val/test hold
distinct sources. Batches: ``(src, tgt)`` long, ``src = digits + <eos>``, ``tgt = <bos> + answer +
<eos>``, both right-padded with ``<pad>`` (id 0).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Literal

import lightning as L
import torch
from torch.utils.data import DataLoader

from lightning_gen.data.resumable import ResumableDataLoader
from lightning_gen.errors import ConfigError
from lightning_gen.text.tokenizers import CharTokenizer

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ["<pad>", "<bos>", "<eos>"]


def _add(s: str) -> str:
    a, b = s.split("+")
    return str(int(a) + int(b))


TASKS: dict[str, Callable[[str], str]] = {
    "reverse": lambda s: s[::-1],
    "sort": lambda s: "".join(sorted(s)),
    "add": _add,
}


def digit_tokenizer() -> CharTokenizer:
    """Digits and '+' after the specials ``<pad>=0, <bos>=1, <eos>=2``."""
    return CharTokenizer("0123456789+", SPECIALS)


def pad_batch(seqs: list[list[int]]) -> torch.Tensor:
    """Right-pad token lists with PAD into ``(B, max_len)``."""
    out = torch.full((len(seqs), max(map(len, seqs))), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out


class DigitTaskDataModule(L.LightningDataModule):
    """``num_train``/``num_val``/``num_test`` distinct examples of ``task``; ``limit`` caps each split."""

    def __init__(self, task: Literal["reverse", "sort", "add"] = "reverse", min_len: int = 3, max_len: int = 8,
                 num_train: int = 20000, num_val: int = 500, num_test: int = 500, batch_size: int = 128,
                 seed: int = 0, limit: int | None = None, num_workers: int = 0,
                 pin_memory: bool = False) -> None:  # fmt: skip
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"data.task={task!r} is not a task; choose one of {sorted(TASKS)}")
        if not 1 <= min_len <= max_len:
            raise ConfigError(f"need 1 <= data.min_len ({min_len}) <= data.max_len ({max_len})")
        if min(num_train, num_val, num_test, batch_size) < 1:
            raise ConfigError("data.num_train, num_val, num_test and batch_size must be >= 1")
        self.task, self.min_len, self.max_len, self.seed = task, min_len, max_len, seed
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.batch_size, self.limit = batch_size, limit
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.tokenizer = digit_tokenizer()
        self.splits: dict[str, list[tuple[str, str]]] = {}

    def _source(self, rng: random.Random) -> str:
        n = rng.randint(self.min_len, self.max_len)
        if self.task == "add":
            k = rng.randint(1, max(1, n - 1))
            return f"{rng.randrange(10**k)}+{rng.randrange(10 ** max(1, n - k))}"
        return "".join(rng.choice("0123456789") for _ in range(n))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        total = sum(self.sizes.values())
        rng, seen = random.Random(self.seed), dict.fromkeys([])
        for _ in range(50 * total):
            seen.setdefault(self._source(rng), None)
            if len(seen) == total:
                break
        if len(seen) < total:
            raise ConfigError(f"only {len(seen)} distinct {self.task} inputs of length {self.min_len}.."
                              f"{self.max_len}; lower data.num_train/num_val/num_test or raise data.max_len")  # fmt: skip
        srcs, start = list(seen), 0
        for split, n in self.sizes.items():
            chunk = srcs[start : start + n][: self.limit or None]
            self.splits[split] = [(s, TASKS[self.task](s)) for s in chunk]
            start += n

    def max_target_len(self) -> int:
        """Longest target in tokens, with <bos> and <eos>."""
        self.setup()
        return max(len(t) for split in self.splits.values() for _, t in split) + 2

    def model_kwargs(self) -> dict[str, Any]:
        """``vocab_size``, ``max_len`` (positions for source and target) and the tokenizer's spec."""
        self.setup()
        longest = max(len(s) for split in self.splits.values() for s, _ in split) + 1
        return {"vocab_size": self.tokenizer.vocab_size, "max_len": max(longest, self.max_target_len()) + 8,
                "tokenizer": self.tokenizer.spec()}  # fmt: skip

    def collate(self, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer.encode
        src = pad_batch([enc(s) + [EOS] for s, _ in pairs])
        tgt = pad_batch([[BOS] + enc(t) + [EOS] for _, t in pairs])
        return src, tgt

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        cls = ResumableDataLoader if shuffle else DataLoader
        kw = {"seed": self.seed} if shuffle else {}
        return cls(
            self.splits[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=self.collate,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            **kw,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)
