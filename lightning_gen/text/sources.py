"""Text corpora: ``load() -> list[str]`` of documents (``prepare()`` downloads where it applies).

- ``PydocTopics``: the documentation topics shipped in Python's standard library (``pydoc_data``),
  real English prose with code, offline everywhere Python is (about 465k characters).
- ``TextFolder``: every ``*.txt`` file under a folder (users' corpora).
- ``TinyShakespeare``: the public tiny-shakespeare corpus (one plain UTF-8 file, ``input.txt``).

Bad input policy: a missing/empty corpus, a binary file (NUL bytes) or text that is not valid in
``encoding`` raises a ``DataError`` naming the file (and the byte offset); ``TextFolder`` can
instead skip such files with ``on_bad_file=skip`` (each skipped file is reported once).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from lightning_gen.data.download import ensure_file
from lightning_gen.errors import DataError

log = logging.getLogger(__name__)


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The text of ``path``; DataError for a binary file or bytes invalid in ``encoding``."""
    data = path.read_bytes()
    if b"\x00" in data[:65536]:
        raise DataError(
            f"{path} looks binary (it contains NUL bytes); remove it from the text corpus"
        )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not valid {encoding} text (bad byte at offset {e.start}); convert it to UTF-8 "
            "or set data.source.encoding=<its encoding>"
        ) from None


class PydocTopics:
    """The ~80 documentation topics of ``pydoc_data.topics`` (sorted by topic name)."""

    def load(self) -> list[str]:
        from pydoc_data.topics import topics

        return [topics[k] for k in sorted(topics)]


class TextFolder:
    """Every file matching ``pattern`` under ``path`` (sorted by path), decoded with ``encoding``."""

    def __init__(self, path: str, pattern: str = "**/*.txt", encoding: str = "utf-8",
                 on_bad_file: Literal["error", "skip"] = "error") -> None:  # fmt: skip
        self.path, self.pattern, self.encoding, self.on_bad_file = (
            Path(path),
            pattern,
            encoding,
            on_bad_file,
        )

    def load(self) -> list[str]:
        if not self.path.is_dir():
            raise DataError(f"data.source.path={self.path}: no such folder")
        files = sorted(p for p in self.path.glob(self.pattern) if p.is_file())
        if not files:
            raise DataError(f"data.source.path={self.path}: no files match {self.pattern!r}")
        docs = []
        for f in files:
            try:
                docs.append(read_text(f, self.encoding))
            except DataError as e:
                if self.on_bad_file != "skip":
                    raise DataError(f"{e} (or set data.source.on_bad_file=skip)") from None
                log.warning("skipped %s", e)
        return docs


class TinyShakespeare:
    """Karpathy's tiny-shakespeare (about 1.1M characters) at ``<root>/tinyshakespeare/input.txt``."""

    URLS = [
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    ]

    def __init__(self, root: str = "data", download: bool = False) -> None:
        self.file = Path(root) / "tinyshakespeare" / "input.txt"
        self.download = download

    def prepare(self) -> None:
        """Download the file when missing and ``download=true`` (no published checksum: size checked)."""
        ensure_file(self.file, self.URLS, None, self.download, "tiny-shakespeare", verify=False)

    def load(self) -> list[str]:
        self.prepare()
        return [read_text(self.file)]
