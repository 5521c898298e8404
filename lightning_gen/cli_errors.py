"""Turn user errors into one clear line on stderr and a distinct exit code, instead of a traceback wall.

Exit codes: 2 config/data/checkpoint error (incl. divergence), 128+signal for a graceful stop on a
signal (143 SIGTERM, 130 SIGINT, 138 SIGUSR1) after its checkpoint was saved.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

from lightning_gen.errors import ConfigError, LgenError
from lightning_gen.reliability.signals import RunInterrupted


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None and not isinstance(exc, (LgenError, RunInterrupted)):
        exc = exc.__cause__
    return exc


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print ``error: <message>`` and exit 2 for config/data/checkpoint errors (set LGEN_DEBUG=1 to raise).

    A ``RunInterrupted`` (stop signal, checkpoint saved) prints ``stopped: ...`` with the resume hint
    and exits ``128 + signal number``.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - we re-raise anything that is not a user error
        from hydra.errors import InstantiationException
        from omegaconf.errors import OmegaConfBaseException

        cause = _root_cause(exc)
        if isinstance(cause, RunInterrupted):
            run_dir = os.path.dirname(os.path.dirname(cause.checkpoint))
            print(f"stopped: {cause}; continue with: lgen train resume={run_dir}", file=sys.stderr)
            sys.exit(128 + int(getattr(signal, cause.signame, 15)))
        user = isinstance(cause, (LgenError, OmegaConfBaseException)) or isinstance(
            exc, InstantiationException
        )
        if not user or os.environ.get("LGEN_DEBUG"):
            raise
        msg = str(cause) if isinstance(cause, LgenError) else str(exc)
        print(f"error: {msg.strip()}", file=sys.stderr)
        sys.exit(2)


def check_output_root(overrides: list[str]) -> None:
    """Before Hydra creates its run folder: the output root (``paths.root_dir=``, else ``LGEN_ROOT``,
    else the current folder) and any ``hydra.run.dir=`` must be writable.

    Prints one ``error:`` line naming the folder and the fix, and exits 2, instead of Hydra's
    traceback from ``mkdir`` (read-only, not a folder, full disk).
    """
    from lightning_gen.reliability.run_dir import check_writable

    given = dict(a.lstrip("+").split("=", 1) for a in overrides if "=" in a)
    folders = [given.get("paths.root_dir") or os.environ.get("LGEN_ROOT") or "."]
    if given.get("hydra.run.dir") and "${" not in given["hydra.run.dir"]:
        folders.append(given["hydra.run.dir"])
    for folder in folders:
        if "${" in folder:
            continue
        try:
            check_writable(folder)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
