"""Shared helpers of the benchmarks: interleaved timing, ratio statistics, machine name, JSON results.

Ratios come from runs interleaved segment by segment inside one process, so that the load of a
noisy shared machine falls on both sides of each ratio alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    """A short description of the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def stats(values: list[float]) -> dict[str, float]:
    """``{"min", "median", "max"}`` of ``values`` (ratios over segments)."""
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


def fmt(s: dict[str, float]) -> str:
    """``min / median / max`` with two decimals."""
    return f"{s['min']:.2f} / {s['median']:.2f} / {s['max']:.2f}"


def interleave(
    runners: dict[str, Callable[[], None]], segments: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each runner per segment, running them in turn (round robin, the order rotated
    each segment); the first ``warmup`` segments are run but not returned."""
    names = list(runners)
    out: dict[str, list[float]] = {n: [] for n in names}
    for seg in range(warmup + segments):
        order = names[seg % len(names) :] + names[: seg % len(names)]
        for n in order:
            t = time.perf_counter()
            runners[n]()
            if seg >= warmup:
                out[n].append(time.perf_counter() - t)
    return out


def save(name: str, report: dict, path: Path | None = None) -> Path:
    """Write ``report`` (plus the machine) to ``benchmarks/results/<name>.json`` (or ``path``)."""
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": name, "machine": machine(), **report}
    path.write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {path}")
    return path
