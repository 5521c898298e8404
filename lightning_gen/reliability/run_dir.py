"""The run folder: writable, used by one run at a time, and found again for ``resume=``.

- ``check_writable``: a clear ``ConfigError`` when the output folder cannot be created or written.
- ``RunLock``: an exclusive OS lock on ``<run>/.lock`` (``filelock.FileLock``: ``flock`` on Linux and
  macOS, ``msvcrt`` on Windows) held for the whole run; a second run started in the same folder
  fails at once instead of overwriting the first one's files. The OS drops the lock when the
  process dies (even on SIGKILL), so a stale lock never blocks a resume.
- ``resume_checkpoint`` / ``resume_run_dir``: ``resume=<run dir | .ckpt>`` to a checkpoint and its run folder.
- ``refuse_finished_run``: a new run (not a resume) started in a folder that already holds a run
  (fixed ``hydra.run.dir=``) is refused instead of overwriting its checkpoints, metrics and logs.
- ``RestoreOnFailure``: a ``resume=`` that fails before it writes a new checkpoint (bad override,
  incompatible checkpoint, divergence at once) puts back every file of the run folder, byte for
  byte (Hydra's ``.hydra/*.yaml`` and ``train.log`` included), and removes files it created.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from lightning_gen.checkpoints import resolve_checkpoint
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
        self._lock: FileLock | None = None

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking). Processes other than global rank 0 of a distributed run
        (DDP children, other nodes) share their rank 0's folder and take no lock."""
        if launched_rank() != 0:
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
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def resume_checkpoint(resume: str | None) -> Path | None:
    """The checkpoint named by ``resume`` by the one rule of ``lightning_gen.checkpoints`` (a run
    folder -> its ``checkpoints/last.ckpt``, a ``.ckpt`` as given); None for a fresh run."""
    if not resume:
        return None
    try:
        return resolve_checkpoint(resume)
    except CheckpointError as exc:
        raise CheckpointError(f"resume={resume}: {exc}") from None


def resume_run_dir(resume: str) -> Path:
    """The run folder a ``resume`` value belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``)."""
    p = Path(resume)
    if p.is_dir():
        return p
    return p.parent.parent if p.parent.name == "checkpoints" else p.parent


def announce_run_folder(folder: Path, what: str) -> None:
    """Print ``<what> run folder <absolute path>`` (global rank 0 only)."""
    if launched_rank() == 0:
        print(f"{what} run folder {Path(folder).resolve()}", flush=True)


RUN_MARKERS = ("config.yaml", "metrics.json", "checkpoints")


def refuse_finished_run(folder: Path) -> None:
    """``ConfigError`` if ``folder`` already holds a run (a fixed ``hydra.run.dir`` pointing at it)."""
    found = [m for m in RUN_MARKERS if (folder / m).exists()]
    if found and launched_rank() == 0:
        raise ConfigError(
            f"hydra.run.dir={folder} already holds a run ({', '.join(found)}); a new run would "
            f"overwrite it. Continue it with `lgen train resume={folder}`, or choose a new "
            "hydra.run.dir (or delete the folder)"
        )


@dataclass
class RestoreOnFailure:
    """Context manager around a ``resume=`` into ``folder`` (see the module docstring).

    Snapshots every file outside ``checkpoints/`` (their bytes) and ``last.ckpt``'s identity; on
    a failed exit (an exception, or ``SystemExit`` with a non-zero code) while ``last.ckpt`` is
    unchanged, writes the snapshot back and deletes files that did not exist before.
    """

    folder: Path
    max_bytes: int = 256 * 2**20  # snapshots larger than this are not taken (a warning says so)
    _files: dict[Path, bytes] | None = field(default=None, init=False)
    _last: tuple[int, int] | None = field(default=None, init=False)
    _dirs: set[Path] = field(default_factory=set, init=False)

    def _last_id(self) -> tuple[int, int] | None:
        try:
            st = (self.folder / "checkpoints" / "last.ckpt").stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _listing(self) -> list[Path]:
        skip = {self.folder / "checkpoints", self.folder / LOCK_NAME}
        return [
            p
            for p in self.folder.rglob("*")
            if p.is_file() and not any(p == s or s in p.parents for s in skip)
        ]

    def __enter__(self) -> RestoreOnFailure:
        if launched_rank() != 0 or not self.folder.is_dir():
            return self
        files = self._listing()
        if sum(p.stat().st_size for p in files) > self.max_bytes:
            print(f"warning: {self.folder} is too large to snapshot; a failed resume may change it")
            return self
        self._files = {p: p.read_bytes() for p in files}
        self._dirs = {p for p in self.folder.rglob("*") if p.is_dir()}
        self._last = self._last_id()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        ok = exc_type is None or (
            issubclass(exc_type, SystemExit) and getattr(exc, "code", 1) in (0, None)
        )
        if ok or self._files is None or self._last_id() != self._last:
            return
        for p in self._listing():
            if p not in self._files:
                p.unlink()
        for p, data in self._files.items():
            if not p.is_file() or p.read_bytes() != data:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        for d in sorted((p for p in self.folder.rglob("*") if p.is_dir()), reverse=True):
            if d not in self._dirs and not any(d.iterdir()):
                d.rmdir()
