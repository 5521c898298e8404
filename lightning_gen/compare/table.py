"""The leaderboard: one row per run, ranked by one metric within each measurement protocol.

Numbers measured under different protocols (extractor, reference split/count, number generated,
sampler...) are never ranked against each other: each protocol gets its own ranked group, with the
protocol spelled out above it. Failed runs are rows with their error; a metric a run lacks is
``missing``, never zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lightning_gen.compare.runs import Run, protocol_key

LOWER_IS_BETTER = ("fid", "kid", "mse", "loss", "lpips", "nll", "bpd", "memorisation")
DEFAULT_METRICS = (
    "test/fid",
    "test/kid_mean",
    "test/precision",
    "test/recall",
    "val/fid",
    "test/psnr",
)
NO_PROTOCOL = "none"


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of ``key`` is better (FID, KID, losses...)."""
    name = key.rsplit("/", 1)[-1]
    return any(name.startswith(p) for p in LOWER_IS_BETTER)


def default_metric(runs: list[Run]) -> str:
    """``test/fid`` where any run has it, else the first of val/fid, test/psnr, val/psnr, val/loss."""
    for key in ("test/fid", "val/fid", "test/psnr", "val/psnr", "val/loss", "train/loss"):
        if any(r.value(key) is not None for r in runs):
            return key
    return "test/fid"


def sampler_of(run: Run) -> dict[str, Any] | None:
    """The sampler settings from the run's model config (used when a record lacks ``sampling``)."""
    model = run.config.get("model") or {}
    found = {k: v for k, v in model.items() if "sampl" in k or k in ("guidance_scale",)}
    return found or None


def protocol_of(run: Run, key: str) -> tuple[str, dict[str, Any]]:
    """``(protocol key, protocol)`` under which ``run`` measured ``key``.

    Generation metrics take the protocol of their latest record; a record without its sampler
    settings gets the model config's sampler added, so two samplers never share a key silently.
    Other metrics (reconstruction, losses) are measured on the run's test/val split of its dataset.
    """
    rec = run.record_for(key)
    if rec is not None and rec["protocol"]:
        protocol = dict(rec["protocol"])
        if "sampling" not in protocol and sampler_of(run):
            protocol["sampler (model config)"] = sampler_of(run)
            return protocol_key(protocol) or NO_PROTOCOL, protocol
        return rec["protocol_key"], protocol
    if run.value(key) is None:
        return NO_PROTOCOL, {}
    protocol = {"split": key.split("/", 1)[0], "dataset": run.dataset}
    return protocol_key(protocol) or NO_PROTOCOL, protocol


@dataclass
class Group:
    """Runs whose ``metric`` was measured under one protocol, best first."""

    key: str
    protocol: dict[str, Any]
    rows: list[Run] = field(default_factory=list)


def describe(protocol: dict[str, Any]) -> str:
    """A one-line human summary of a protocol."""
    if not protocol:
        return "not measured"
    parts = []
    ext = protocol.get("extractor")
    if isinstance(ext, dict):
        parts.append(f"extractor={ext.get('name')}@{ext.get('checksum', '')}")
    elif ext:
        parts.append(f"extractor={ext}")
    for k in ("dataset", "reference_split", "reference_count", "num_generated", "num_samples"):
        if k in protocol:
            parts.append(f"{k}={protocol[k]}")
    for k in ("sampling", "sampler (model config)", "split"):
        if k in protocol:
            parts.append(f"{k}={json.dumps(protocol[k], sort_keys=True)}")
    return ", ".join(parts)


def leaderboard(runs: list[Run], metric: str) -> tuple[list[Group], list[Run]]:
    """Ranked groups (one per protocol of ``metric``) and the runs that lack ``metric``.

    Failed runs and runs without the metric come back in the second list, in input order.
    """
    groups: dict[str, Group] = {}
    unranked: list[Run] = []
    for run in runs:
        value = run.value(metric)
        if run.failed or value is None:
            unranked.append(run)
            continue
        key, protocol = protocol_of(run, metric)
        groups.setdefault(key, Group(key, protocol)).rows.append(run)
    sign = 1 if lower_is_better(metric) else -1
    for g in groups.values():
        g.rows.sort(key=lambda r: (sign * (r.value(metric) or 0.0), r.label))
    ordered = sorted(groups.values(), key=lambda g: -len(g.rows))
    return ordered, unranked


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a table; ``missing`` for None (never 0)."""
    if value is None:
        return "missing"
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return f"{value:.{digits}g}"


def train_seconds(run: Run) -> float | None:
    """Training wall time: metrics.json ``time/train_seconds`` (written by MetricsFile)."""
    t = (run.metrics.get("time") or {}).get("time/train_seconds")
    return float(t) if isinstance(t, (int, float)) else None


def params(run: Run) -> int | None:
    """Trainable parameter count: metrics.json ``model/params`` (written by MetricsFile)."""
    p = (run.metrics.get("model") or {}).get("model/params")
    return int(p) if isinstance(p, (int, float)) else None


def row_cells(run: Run, metrics: list[str]) -> list[str]:
    """Cells of one leaderboard row after the rank: run, family, dataset, seed, metrics, params..."""
    t = train_seconds(run)
    p = params(run)
    return [
        run.label,
        run.family,
        run.dataset,
        str(run.seed),
        *[fmt(run.value(m)) for m in metrics],
        "missing" if p is None else f"{p:,}",
        str(run.metrics.get("global_step", "missing")),
        "missing" if t is None else f"{t:.1f}",
    ]


def header(metrics: list[str]) -> list[str]:
    """Column names of ``row_cells`` with the rank first."""
    return ["#", "run", "family", "dataset", "seed", *metrics, "params", "steps", "train s"]


def columns(runs: list[Run], metric: str) -> list[str]:
    """The metric columns: the ranking metric first, then the usual ones that any run has."""
    present = [
        m for m in DEFAULT_METRICS if m != metric and any(r.value(m) is not None for r in runs)
    ]
    return [metric, *present]
