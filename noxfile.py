"""Test sessions (``pip install nox``; ``nox -l`` lists them).

- ``nox -s tested``: the pinned, tested set (``constraints.txt``), as in CI.
- ``nox -s newest``: the newest versions that ``pyproject.toml``'s ranges allow, so a range is
  never wider than what was tested.
- ``nox -s oldest``: the lower bounds of the Lightning/torchmetrics ranges (2.6.0 / 1.9.0). Only torch stays pinned to its CPU build (``--index-url``) so
  the session never pulls CUDA packages.
"""

from __future__ import annotations

import nox

CPU_TORCH = "https://download.pytorch.org/whl/cpu"
FAST = ("-x", "-q", "-p", "no:cacheprovider")


@nox.session
def tested(session: nox.Session) -> None:
    """The suite on the exact versions in constraints.txt."""
    session.install("-c", "constraints.txt", "-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("pytest", *FAST, *session.posargs)


@nox.session
def newest(session: nox.Session) -> None:
    """The suite on the newest lightning/torchmetrics/... inside the declared ranges."""
    session.install("torch", "--index-url", CPU_TORCH)
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[dev]")
    session.run("pip", "list")
    session.run("pytest", *FAST, *session.posargs)


@nox.session
def oldest(session: nox.Session) -> None:
    """The suite on the lowest lightning/torchmetrics the ranges allow."""
    session.install("torch", "--index-url", CPU_TORCH)
    session.install("-e", ".[dev]", "lightning==2.6.0", "torchmetrics==1.9.0")
    session.run("pytest", *FAST, *session.posargs)
