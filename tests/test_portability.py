"""The package imports and locks run folders where ``fcntl`` does not exist (Windows), issue 14.4."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "lightning_gen"

NO_FCNTL = """
import sys
sys.modules["fcntl"] = None  # `import fcntl` now raises ImportError, as on Windows
import lightning_gen.commands.train, lightning_gen.commands.evaluate, lightning_gen.commands.sample
from lightning_gen.errors import ConfigError
from lightning_gen.reliability.run_dir import RunLock
folder = sys.argv[1]
with RunLock(folder):
    try:
        RunLock(folder).acquire()
    except ConfigError as exc:
        print("refused:", exc)
with RunLock(folder):
    print("reacquired")
"""


def test_package_imports_and_locks_without_fcntl(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", NO_FCNTL, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused: run folder" in out.stdout and "in use by another run" in out.stdout
    assert "reacquired" in out.stdout


def test_no_module_imports_fcntl_directly():
    users = [p for p in PACKAGE.rglob("*.py") if "import fcntl" in p.read_text()]
    assert users == [], f"use filelock instead of fcntl in {users}"
