"""``lgen`` as a user runs it: a subprocess with its own ``LGEN_ROOT`` and offline W&B."""

from __future__ import annotations

import os
import subprocess
import sys


def run_lgen(*args: str, root, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LGEN_ROOT": str(root),
        "WANDB_MODE": "offline",
        "PYTHONWARNINGS": "ignore",
    }
    return subprocess.run(
        [sys.executable, "-m", "lightning_gen.commands.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
