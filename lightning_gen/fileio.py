"""Atomic file writes: a crash mid-write never leaves a half-written file where a good one was.

The one writer for run files (``atomic_write``) and for caches (``save_cache`` / ``load_cache``).
Every write goes to a temp file in the same folder, is fsynced, renamed over the target with
``os.replace`` and the folder is fsynced (POSIX), so after a kill or a full disk the target holds
either the old or the new content. Caches also carry a sha256 of their payload: a cache damaged any
other way (copied half, edited, bit rot) is detected on read, removed and rebuilt with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

CACHE_MAGIC = b"LGEN-CACHE-1\n"


class CacheWarning(UserWarning):
    """A cache file was unreadable or corrupt and is being rebuilt."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temp file next to ``path``; on success fsync it and ``os.replace`` it onto ``path``.

    The file gets the permissions of a normally created file (``0o666`` minus the umask), not
    ``mkstemp``'s private ``0o600``, so collaborators can read runs on shared storage. On any error
    the temp file is removed and the previous ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_cache(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` (tensors, dicts of primitives: what ``torch.load(weights_only=True)`` reads) to
    ``path`` atomically, with a sha256 of the payload in the header; returns the path."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    with atomic_write(path, "wb") as f:
        f.write(CACHE_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n")
        f.write(payload)
    return Path(path)


def load_cache(path: str | Path) -> Any | None:
    """The object ``save_cache`` wrote at ``path``; ``None`` when there is none.

    A file that is truncated, fails its checksum or cannot be unpickled with ``weights_only=True`` is
    removed, a ``CacheWarning`` names it, and ``None`` is returned so that the caller rebuilds it.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = path.read_bytes()
        if not raw.startswith(CACHE_MAGIC):
            raise ValueError("no cache header (older format or another file)")
        digest, payload = raw[len(CACHE_MAGIC) :].split(b"\n", 1)
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise ValueError("checksum mismatch (truncated or damaged)")
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any damage means: rebuild
        warnings.warn(
            f"cache {path} is corrupt ({type(exc).__name__}: {exc}); removing it and rebuilding",
            CacheWarning,
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return None


def load_array_cache(path: str | Path) -> Any | None:
    """A large ``.npy`` cache written through ``atomic_write`` (no in-memory copy for a checksum);
    ``None`` when missing, or when truncated/unreadable (then removed with a ``CacheWarning``)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - truncated header or data: rebuild
        warnings.warn(
            f"cache {path} is corrupt ({type(exc).__name__}: {exc}); removing it and rebuilding",
            CacheWarning,
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return None
