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

from lightning_gen.errors import LgenError
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
