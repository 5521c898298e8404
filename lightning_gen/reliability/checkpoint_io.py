"""Atomic checkpoint writes; reads go through the one reader, ``checkpoints.read_checkpoint``.

A checkpoint is first written to a hidden temp file in the same folder, flushed and fsynced, then
renamed over the target with ``os.replace`` (atomic on POSIX): a crash or a full disk mid-save leaves
the previous file intact and never a half-written ``last.ckpt``.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from typing_extensions import override

from lightning_gen.checkpoints import read_checkpoint
from lightning_gen.errors import CheckpointError
from lightning_gen.fileio import atomic_write


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` via temp file + fsync + ``os.replace``; raises ``CheckpointError`` on a full disk.

    The previous file at ``path`` (if any) is untouched unless the new one was written completely.
    """
    path = Path(path)
    try:
        with atomic_write(path, "wb") as f:
            torch.save(obj, f)  # atomic_write also makes the rename durable
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointError(
                f"disk full while saving {path}: the previous checkpoint there is kept unchanged; "
                "free space (or point paths.root_dir/LGEN_ROOT elsewhere) and resume"
            ) from exc
        raise


def load_checkpoint(path: str | Path, map_location: Any = None) -> dict[str, Any]:
    """``lightning_gen.checkpoints.read_checkpoint`` (the one reader), keeping tensors where saved."""
    return read_checkpoint(path, map_location=map_location)


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
