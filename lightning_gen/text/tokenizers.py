"""Tokenisers: bytes (UTF-8), characters, and the hook for any other tokenizer.

A tokenizer is any object with ``encode(str) -> list[int]``, ``decode(list[int]) -> str``,
``vocab_size``, ``unit`` (what one token is: ``"byte"``, ``"char"``, ``"token"``; names the
``bits_per_<unit>`` metric) and ``spec() -> dict`` (``{"class_path": ..., **kwargs}`` of JSON
primitives, stored in the model's hyper-parameters so a checkpoint can encode prompts again).
``fit(text)`` is called once on the training corpus (a character vocabulary is built there).
A real subword tokenizer plugs in as ``data.tokenizer._target_=<your.Class>`` with these methods.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from lightning_gen.errors import ConfigError


@runtime_checkable
class Tokenizer(Protocol):
    vocab_size: int
    unit: str

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def spec(self) -> dict[str, Any]: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens 0..255 (every text encodes; invalid byte runs decode as U+FFFD)."""

    unit = "byte"
    vocab_size = 256

    def fit(self, text: str) -> ByteTokenizer:
        return self

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def spec(self) -> dict[str, Any]:
        return {"class_path": f"{__name__}.ByteTokenizer"}


class CharTokenizer:
    """One token per character of ``vocab`` (built from the training corpus by ``fit`` when None).

    ``specials`` come first (e.g. ``["<pad>", "<bos>", "<eos>"]`` for sequence-to-sequence).
    A character outside the vocabulary raises a ValueError naming it (policy: no silent <unk>).
    """

    unit = "char"

    def __init__(self, vocab: str | None = None, specials: list[str] | None = None) -> None:
        self.specials = list(specials or [])
        self.vocab: str | None = None
        if vocab is not None:
            self._set(vocab)

    def _set(self, vocab: str) -> None:
        if len(set(vocab)) != len(vocab):
            raise ConfigError("data.tokenizer.vocab has repeated characters")
        self.vocab = vocab
        self.index = {c: i + len(self.specials) for i, c in enumerate(vocab)}

    def fit(self, text: str) -> CharTokenizer:
        """Use every character of ``text`` (sorted) unless a vocabulary was given."""
        if self.vocab is None:
            self._set("".join(sorted(set(text))))
        return self

    @property
    def vocab_size(self) -> int:
        if self.vocab is None:
            raise ConfigError(
                "CharTokenizer has no vocabulary yet: give data.tokenizer.vocab or fit() it"
            )
        return len(self.specials) + len(self.vocab)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError as e:
            raise ValueError(
                f"character {e.args[0]!r} is not in the tokenizer's vocabulary"
            ) from None

    def decode(self, ids: list[int]) -> str:
        n = len(self.specials)
        return "".join(self.vocab[i - n] for i in ids if n <= i < n + len(self.vocab))

    def spec(self) -> dict[str, Any]:
        return {
            "class_path": f"{__name__}.CharTokenizer",
            "vocab": self.vocab,
            "specials": self.specials,
        }


def from_spec(spec: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its ``spec()`` (an import path plus keyword arguments)."""
    kwargs = {k: v for k, v in spec.items() if k != "class_path"}
    module, _, name = spec["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)
