"""FID under 2-process CPU DDP equals the single-process FID on the same sample set (one launch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "helpers" / "metrics_ddp_script.py"


def test_ddp_metrics_equal_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SCRIPT.parents[2])}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=SCRIPT.parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    single, ddp = r0["single"], r0["ddp"]
    assert r0["world_size"] == 2
    for key in ("fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall"):
        assert ddp[key] == pytest.approx(single[key], rel=1e-6), key
    assert r0["logged_fid"] == pytest.approx(single["fid"], rel=1e-6)
    # compute ran on every rank and agrees; each rank drew a distinct half of the 400 samples
    assert r1["ddp"]["fid"] == pytest.approx(ddp["fid"], rel=1e-12)
    # rank 0 also extracted the reference once; rank 1 read it from the cache
    assert r0["generated_images"] - r0["reference_count"] == 200 and r1["generated_images"] == 200
    # the reference is the whole train split, read without the distributed sampler (no padded duplicates)
    assert r0["reference_count"] == r1["reference_count"] == 321
