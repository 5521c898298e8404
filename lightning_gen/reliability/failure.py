"""A failed run leaves ``<run>/failed.json``; inside a multirun the other jobs go on.

``lgen compare`` shows such a run as failed with its error (never as zeros).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig

from lightning_gen.errors import LgenError
from lightning_gen.fileio import atomic_write
from lightning_gen.reliability.signals import RunInterrupted


class JobFailed(RuntimeError):
    """A multirun job's error, raised as an exception so that Hydra runs the remaining jobs."""


@contextlib.contextmanager
def record_failure(cfg: DictConfig) -> Iterator[None]:
    """Write ``<run>/failed.json`` (``{"type", "error"}``) when training raises, then re-raise.

    ``lgen compare`` shows such a run as failed with this error. A stop signal is no failure.
    """
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, RunInterrupted):
            cause = exc
            while cause.__cause__ is not None and not isinstance(cause, LgenError):
                cause = cause.__cause__
            out = Path(str(cfg.paths.output_dir))
            if out.is_dir():
                with atomic_write(out / "failed.json") as f:
                    json.dump({"type": type(cause).__name__, "error": str(cause).strip()}, f)
        raise
