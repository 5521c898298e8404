"""metrics.json names the step of each checkpoint file, read from the file (remembered per version)."""

from __future__ import annotations

import os

import torch

from lightning_gen.callbacks import metrics_file
from lightning_gen.callbacks.metrics_file import checkpoint_step
from lightning_gen.fileio import atomic_write


def _save(path, step):
    with atomic_write(path, "wb") as f:  # as checkpoints are written: a new file, then a rename
        torch.save({"global_step": step, "state_dict": {"w": torch.zeros(3)}}, f)


def _age(path, seconds=10.0):
    """Set the file's modification time ``seconds`` into the past (older than the 2 s guard)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_checkpoint_step_is_read_once_per_file_version(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    _save(path, 7)
    _age(path)
    reads = []
    real = metrics_file._read_step
    monkeypatch.setattr(metrics_file, "_read_step", lambda p: reads.append(p) or real(p))
    assert checkpoint_step(path) == 7 and checkpoint_step(path) == 7
    assert len(reads) == 1  # unchanged file: not unpickled again
    _save(path, 8)  # replaced (the next epoch's checkpoint)
    _age(path)
    assert checkpoint_step(path) == 8 and len(reads) == 2
    st = path.stat()  # rewritten in place with the same size: the modification time tells
    with open(path, "r+b") as f:
        f.write(path.read_bytes())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert checkpoint_step(path) == 8 and len(reads) == 3
    _save(path, 9)  # fresh (modified under 2 s ago): read every time, never from the cache
    assert checkpoint_step(path) == 9 and checkpoint_step(path) == 9 and len(reads) == 5
    path.write_bytes(b"not a checkpoint")
    assert checkpoint_step(path) is None
    path.unlink()
    assert checkpoint_step(path) is None
