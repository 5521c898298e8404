"""Turn user errors into one clear line on stderr and exit code 2, instead of a traceback wall."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from lightning_gen.errors import LgenError


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None and not isinstance(exc, LgenError):
        exc = exc.__cause__
    return exc


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print ``error: <message>`` and exit 2 for config/data/checkpoint errors (set LGEN_DEBUG=1 to raise)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - we re-raise anything that is not a user error
        from hydra.errors import InstantiationException
        from omegaconf.errors import OmegaConfBaseException

        cause = _root_cause(exc)
        user = isinstance(cause, (LgenError, OmegaConfBaseException)) or isinstance(exc, InstantiationException)
        if not user or os.environ.get("LGEN_DEBUG"):
            raise
        msg = str(cause) if isinstance(cause, LgenError) else str(exc)
        print(f"error: {msg.strip()}", file=sys.stderr)
        sys.exit(2)
