"""One atomic writer for run files and caches: a kill, a full disk or a damaged file never leaves a
corrupt entry that is used later (issue 9.3, 14.3)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lightning_gen import fileio
from lightning_gen.fileio import CacheWarning, atomic_write, load_cache, save_cache


def test_cache_round_trips_and_missing_is_none(tmp_path):
    blob = {"mean": torch.arange(5.0), "fingerprint": {"dataset": "digits", "count": 5}}
    save_cache(blob, tmp_path / "sub" / "c.pt")
    got = load_cache(tmp_path / "sub" / "c.pt")
    assert torch.equal(got["mean"], blob["mean"]) and got["fingerprint"] == blob["fingerprint"]
    assert load_cache(tmp_path / "none.pt") is None


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda b: b[: len(b) // 2], "checksum mismatch"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum mismatch"),
        (lambda b: b"", "no cache header"),
        (lambda b: b"PK\x03\x04 an old torch.save file", "no cache header"),
    ],
)
def test_damaged_cache_is_warned_removed_and_reported_missing(tmp_path, damage, why):
    path = tmp_path / "c.pt"
    save_cache({"x": torch.ones(100)}, path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(CacheWarning, match=f"cache {path} is corrupt.*{why}.*rebuilding"):
        assert load_cache(path) is None
    assert not path.exists()


def test_full_disk_mid_write_keeps_the_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_cache({"v": torch.zeros(3)}, path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        save_cache({"v": torch.ones(3)}, path)
    with pytest.raises(OSError, match="No space left"):
        with atomic_write(tmp_path / "metrics.json") as f:
            f.write("{}")
    monkeypatch.undo()
    assert path.read_bytes() == before and torch.equal(load_cache(path)["v"], torch.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temp files, no half json


WRITER = """
import sys, torch
from lightning_gen.fileio import save_cache
i = 0
print("ready", flush=True)
while True:
    save_cache({"i": i, "x": torch.full((2_000_000,), float(i))}, sys.argv[1])
    i += 1
"""


def test_sigkill_during_repeated_cache_writes_leaves_a_whole_cache(tmp_path):
    """A real SIGKILL while a cache is being rewritten: what is there afterwards is a whole,
    checksummed cache (old or new), never a partial one."""
    path = tmp_path / "c.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env
    )
    assert proc.stdout.readline().strip() == b"ready"
    deadline = time.time() + 20
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        got = load_cache(path)
    assert got is not None and torch.equal(got["x"], torch.full((2_000_000,), float(got["i"])))


def test_every_writer_goes_through_fileio():
    """One atomic writer: no module writes run files or caches with a bare save/open-for-write
    (the CSV logger's own file and the download stream, which is checksummed before use, aside)."""
    import re
    from pathlib import Path

    package = Path(fileio.__file__).parent
    bare = re.compile(
        r"torch\.save\([^)]*, (tmp|path)|np\.save(z|z_compressed)?\((?!f\b)|\.save\(path\)"
    )
    allowed = {"fileio.py", "checkpoint_io.py"}
    offenders = [
        f"{p.relative_to(package)}:{i}"
        for p in package.rglob("*.py")
        if p.name not in allowed
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert offenders == []


def test_truncated_array_cache_is_warned_and_rebuilt(tmp_path):
    import numpy as np

    from lightning_gen.fileio import load_array_cache

    path = tmp_path / "a.npy"
    with atomic_write(path, "wb") as f:
        np.save(f, np.arange(1000, dtype=np.uint8).reshape(10, 100))
    assert load_array_cache(path).shape == (10, 100)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.warns(CacheWarning, match="a.npy is corrupt"):
        assert load_array_cache(path) is None
    assert not path.exists()
