"""The small denoising-autoencoder run that the resume tests interrupt: its ``lgen train`` command
line, a subprocess runner and the CSV rows of a run folder."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


# 3 epochs x 4 batches of 16 digits (16x16), a mid-epoch last.ckpt every 3 steps
COMMON = [
    "debug=smoke",
    "data=digits",
    "model=denoising_autoencoder",  # draws noise from the global torch RNG every step
    "model.widths=[8,16]",
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=4",
    "callbacks.last_checkpoint.every_n_train_batches=3",
    "callbacks.image_grids=null",
    "callbacks.reconstruction_metrics=null",
    "+logger.csv.flush_logs_every_n_steps=1",
    "test=false",
]


def lgen_train(root: Path, *overrides: str) -> tuple[list[str], dict[str, str]]:
    """The ``lgen train`` command line and environment (same thread count as this process, for bitwise equality)."""
    env = {
        **os.environ,
        "LGEN_ROOT": str(root),
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
        "PYTHONWARNINGS": "ignore",
    }
    return [sys.executable, "-m", "lightning_gen.commands.cli", "train", *COMMON, *overrides], env


def run_subprocess(root: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd, env = lgen_train(root, *overrides)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def csv_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))
