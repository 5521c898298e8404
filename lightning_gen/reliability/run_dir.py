"""The run folder: writable, used by one run at a time, and found again for ``resume=``.

- ``check_writable``: a clear ``ConfigError`` when the output folder cannot be created or written.
- ``RunLock``: an exclusive ``fcntl.flock`` on ``<run>/.lock`` held for the whole run; a second run
  started in the same folder fails at once instead of overwriting the first one's files. The OS drops
  the lock when the process dies (even on SIGKILL), so a stale lock never blocks a resume.
- ``resume_checkpoint`` / ``resume_run_dir``: ``resume=<run dir | .ckpt>`` to a checkpoint and its run folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from pathlib import Path
from types import TracebackType

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


class RunLock:
    """Exclusive lock on a run folder; ``ConfigError`` if another live process holds it."""

    def __init__(self, folder: str | Path) -> None:
        self.path = (Path(folder) / LOCK_NAME).resolve()
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking). Processes other than global rank 0 of a distributed run
        (DDP children, other nodes) share their rank 0's folder and take no lock."""
        if launched_rank() != 0:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"run folder {self.path.parent} is in use by another run (pid {holder}); wait for it, "
                "or start a new run (a fresh folder is made per start unless hydra.run.dir is fixed)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

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
