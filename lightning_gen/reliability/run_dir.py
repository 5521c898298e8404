"""The run folder: writable, used by one run at a time, and found again for ``resume=``.

- ``check_writable``: a clear ``ConfigError`` when the output folder cannot be created or written.
- ``RunLock``: an exclusive OS lock on ``<run>/.lock`` (``filelock.FileLock``: ``flock`` on Linux and
  macOS, ``msvcrt`` on Windows) held for the whole run; a second run started in the same folder
  fails at once instead of overwriting the first one's files. The OS drops the lock when the
  process dies (even on SIGKILL), so a stale lock never blocks a resume.
- ``resume_checkpoint`` / ``resume_run_dir``: ``resume=<run dir | .ckpt>`` to a checkpoint and its run folder.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from lightning_gen.errors import CheckpointError, ConfigError

LOCK_NAME = ".lock"


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove it is writable; ``ConfigError`` naming the fix otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write_test."):
            pass
    except OSError as exc:
        why = "disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise ConfigError(
            f"output folder {folder} is not writable ({why}); set LGEN_ROOT or paths.root_dir=<writable dir>"
        ) from exc
    return folder


def launched_rank() -> int:
    """The global rank this process was launched as (0 when not part of a distributed launch).

    Read from the variables that Lightning's DDP launcher, torchrun and SLURM set before any
    process group exists.
    """
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        value = os.environ.get(var, "0")
        if value.isdigit() and int(value) != 0:
            return int(value)
    return 0


_HELD: set[Path] = set()  # lock files this process holds (re-entrancy)


class RunLock:
    """Exclusive lock on a run folder; ``ConfigError`` if another live process holds it.

    Re-entrant within one process: acquiring a folder this process already holds is a no-op."""

    def __init__(self, folder: str | Path) -> None:
        self.path = (Path(folder) / LOCK_NAME).resolve()
        self._lock: FileLock | None = None

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking). Processes other than global rank 0 of a distributed run
        (DDP children, other nodes) share their rank 0's folder and take no lock."""
        if launched_rank() != 0:
            return self
        if self.path in _HELD:  # this process holds it (`lgen train` locks early): nothing to take
            return self
        lock = FileLock(self.path, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            try:
                holder = self.path.read_text(errors="replace").strip() or "?"
            except OSError:
                holder = "?"
            raise ConfigError(
                f"run folder {self.path.parent} is in use by another run (pid {holder}); wait for it, "
                "or start a new run (a fresh folder is made per start unless hydra.run.dir is fixed)"
            ) from None
        with open(self.path, "r+") as f:  # the holder's pid, for the message above
            f.truncate(0)
            f.write(str(os.getpid()))
        self._lock = lock
        _HELD.add(self.path)
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
            _HELD.discard(self.path)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def resume_checkpoint(resume: str | None) -> Path | None:
    """The checkpoint named by ``resume`` (a run folder -> its ``checkpoints/last.ckpt``); None for a fresh run."""
    if not resume:
        return None
    p = Path(resume)
    if p.is_dir():
        p = p / "checkpoints" / "last.ckpt"
    if not p.is_file():
        raise CheckpointError(
            f"resume={resume}: no checkpoint at {p}; pass a run folder with checkpoints/last.ckpt or a .ckpt file"
        )
    return p


def resume_run_dir(resume: str) -> Path:
    """The run folder a ``resume`` value belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``)."""
    p = Path(resume)
    if p.is_dir():
        return p
    return p.parent.parent if p.parent.name == "checkpoints" else p.parent
