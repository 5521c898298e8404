"""Atomic checkpoint writes and safe (``weights_only``) checkpoint reads with clear errors.

A checkpoint is first written to a hidden temp file in the same folder, flushed and fsynced, then
renamed over the target with ``os.replace`` (atomic on POSIX): a crash or a full disk mid-save leaves
the previous file intact and never a half-written ``last.ckpt``.
"""

from __future__ import annotations

import errno
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from typing_extensions import override

from lightning_gen.errors import CheckpointError
from lightning_gen.fileio import atomic_write

# what a checkpoint may legitimately hold besides tensors (Lightning's own bookkeeping types)
_SAFE_GLOBALS_ADDED = False


def _allow_lightning_globals() -> None:
    """Allow-list the few non-tensor types Lightning writes into checkpoints (no code execution)."""
    global _SAFE_GLOBALS_ADDED
    if _SAFE_GLOBALS_ADDED:
        return
    from lightning.fabric.utilities.data import AttributeDict

    torch.serialization.add_safe_globals([AttributeDict])
    _SAFE_GLOBALS_ADDED = True


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` via temp file + fsync + ``os.replace``; raises ``CheckpointError`` on a full disk.

    The previous file at ``path`` (if any) is untouched unless the new one was written completely.
    """
    path = Path(path)
    try:
        with atomic_write(path, "wb") as f:
            torch.save(obj, f)
        _fsync_dir(path.parent)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointError(
                f"disk full while saving {path}: the previous checkpoint there is kept unchanged; "
                "free space (or point paths.root_dir/LGEN_ROOT elsewhere) and resume"
            ) from exc
        raise


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort; not every filesystem supports it)."""
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


def load_checkpoint(path: str | Path, map_location: Any = None) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (tensors and primitives only, no code execution).

    Raises ``CheckpointError`` naming the problem: missing, truncated/corrupt, or holding objects
    that are not plain data (an untrusted or foreign file).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; pass a run folder or a .ckpt file"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"checkpoint {path} is empty (0 bytes): it was never written completely; use another"
        )
    _allow_lightning_globals()
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint {path} holds objects that are not plain tensors/values and was refused "
            f"(weights_only loading; it may come from an untrusted source): {str(exc).splitlines()[0]}"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "use an earlier checkpoint or retrain"
        ) from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint (no 'state_dict'); pass a .ckpt saved by lgen train"
        )
    return ckpt


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO`` plugin: atomic writes, ``weights_only`` reads with clear errors."""

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__} does not take storage_options, got {storage_options!r}"
            )
        atomic_torch_save(checkpoint, path)

    @override
    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location)
