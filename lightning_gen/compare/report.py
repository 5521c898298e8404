"""``report.md``, a self-contained ``report.html`` and PNG curve plots from a list of runs.

The HTML page needs no network and no other file: plots and image grids are embedded as base64
PNGs, the style is inline. Plots are drawn with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path
from typing import Any

from lightning_gen.compare.runs import Run
from lightning_gen.compare.table import (
    columns,
    describe,
    header,
    leaderboard,
    row_cells,
)
from lightning_gen.fileio import atomic_write

MAX_PLOTS = 24
CSS = """
body{font-family:sans-serif;margin:1.5em;max-width:1400px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px;text-align:left}
th{background:#eee} tr.failed td{background:#fde2e2} td.diff{background:#fff3b0;font-weight:bold}
td.missing{color:#999} .grids{display:flex;flex-wrap:wrap;gap:12px}
.grids figure{margin:0} .grids img{image-rendering:pixelated;width:200px}
.plots img{width:420px} .protocol{color:#555;font-size:13px}
"""


def curve_keys(runs: list[Run]) -> list[str]:
    """Metric keys to plot: real curves (>= 2 points in some run) first, val/* before train/*."""
    keys = {k for r in runs for k in r.curves}
    longest = {k: max(len(r.curves.get(k, [])) for r in runs) for k in keys}
    order = {"val": 0, "train": 1}
    ranked = sorted(keys, key=lambda k: (longest[k] < 2, order.get(k.split("/", 1)[0], 2), k))
    return ranked[:MAX_PLOTS]


def wants_log_scale(values: list[float]) -> bool:
    """A curve spanning two orders of magnitude or more (an FID falling from 1,000 to 5) is drawn on
    a log y-axis, where the end of training stays readable; never when a value is 0 or negative."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= 100


def plot_curves(runs: list[Run], out: Path) -> dict[str, Path]:
    """One PNG per metric (all runs on it) under ``out``; returns metric -> file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for key in curve_keys(runs):
        fig, ax = plt.subplots(figsize=(5.6, 3.4), dpi=80)
        for run in runs:
            pts = run.curves.get(key)
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="." if len(pts) < 30 else None, label=run.label)
        values = [y for run in runs for _, y in run.curves.get(key, [])]
        log = wants_log_scale(values)
        if log:
            ax.set_yscale("log")
        ax.set_title(f"{key} (log scale)" if log else key)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if len(runs) <= 12:
            ax.legend(fontsize=6)
        fig.tight_layout()
        path = out / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".png")
        fig.savefig(path)
        plt.close(fig)
        files[key] = path
    return files


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_diff(runs: list[Run]) -> dict[str, list[Any]]:
    """Config keys whose resolved values differ between runs (paths left out): key -> values."""
    flat = [flatten(r.config) for r in runs]
    keys = sorted({k for f in flat for k in f if not k.startswith("paths.")})
    missing = object()
    diff = {}
    for k in keys:
        vals = [f.get(k, missing) for f in flat]
        if len({json.dumps(v, default=str) if v is not missing else "<absent>" for v in vals}) > 1:
            diff[k] = [None if v is missing else v for v in vals]
    return diff


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def leaderboard_markdown(runs: list[Run], metric: str) -> str:
    """The leaderboard as Markdown: one ranked table per protocol, then the unranked runs."""
    groups, unranked = leaderboard(runs, metric)
    cols = columns(runs, metric)
    parts = [f"## Leaderboard by `{metric}`"]
    if len(groups) > 1:
        parts.append(
            f"**{len(groups)} protocols**: `{metric}` was measured under different protocols; "
            "runs are ranked only within one protocol."
        )
    for g in groups:
        rows = [[str(i + 1), *row_cells(r, cols)] for i, r in enumerate(g.rows)]
        parts += [
            f"### Protocol `{g.key}`",
            describe(g.protocol),
            "",
            markdown_table(header(cols), rows),
        ]
    if unranked:
        rows = [["-", *row_cells(r, cols)[:-1], r.error or f"{metric} missing"] for r in unranked]
        head = [*header(cols)[:-1], "status"]
        parts += ["### Not ranked (failed, or without this metric)", markdown_table(head, rows)]
    return "\n\n".join(parts)


def write_markdown(runs: list[Run], metric: str, plots: dict[str, Path], out: Path) -> Path:
    """``report.md``: leaderboard, config differences and links to the PNG plots."""
    diff = config_diff(runs)
    parts = [f"# Comparison of {len(runs)} runs", leaderboard_markdown(runs, metric)]
    if diff:
        rows = [[k, *[json.dumps(v, default=str) for v in vals]] for k, vals in diff.items()]
        parts += ["## Config differences", markdown_table(["key", *[r.label for r in runs]], rows)]
    if plots:
        parts.append("## Curves")
        parts += [f"![{k}]({p.relative_to(out).as_posix()})" for k, p in plots.items()]
    path = out / "report.md"
    with atomic_write(path) as f:
        f.write("\n\n".join(parts) + "\n")
    return path


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _td(text: str) -> str:
    cls = ' class="missing"' if text == "missing" else ""
    return f"<td{cls}>{html.escape(text)}</td>"


def html_table(head: list[str], rows: list[list[str]], css_class: str) -> str:
    """A ``<table class=css_class>`` of escaped cells, header row first."""
    top = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(f"<tr>{''.join(_td(c) for c in row)}</tr>" for row in rows)
    return f'<table class="{html.escape(css_class)}"><tr>{top}</tr>{body}</table>'


def _html_leaderboard(runs: list[Run], metric: str) -> str:
    groups, unranked = leaderboard(runs, metric)
    cols = columns(runs, metric)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header(cols))
    out = [f"<h2>Leaderboard by {html.escape(metric)}</h2>"]
    if len(groups) > 1:
        out.append(f"<p><b>{len(groups)} protocols</b>: ranked only within one protocol.</p>")
    for g in groups:
        body = "".join(
            f'<tr class="run">{_td(str(i + 1))}{"".join(_td(c) for c in row_cells(r, cols))}</tr>'
            for i, r in enumerate(g.rows)
        )
        out.append(
            f'<h3>Protocol {g.key}</h3><p class="protocol">{html.escape(describe(g.protocol))}</p>'
            f'<table class="leaderboard" data-protocol="{g.key}"><tr>{head}</tr>{body}</table>'
        )
    if unranked:
        body = "".join(
            f'<tr class="{"failed" if r.failed else "unranked"}">{_td("-")}'
            + "".join(_td(c) for c in row_cells(r, cols)[:-1])
            + _td(r.error or f"{metric} missing")
            + "</tr>"
            for r in unranked
        )
        head2 = "".join(f"<th>{html.escape(h)}</th>" for h in [*header(cols)[:-1], "status"])
        out.append(f'<h3>Not ranked</h3><table class="unranked"><tr>{head2}</tr>{body}</table>')
    return "".join(out)


def _html_diff(runs: list[Run]) -> str:
    diff = config_diff(runs)
    if not diff:
        return "<h2>Config differences</h2><p>The runs share one configuration.</p>"
    head = "".join(f"<th>{html.escape(r.label)}</th>" for r in runs)
    rows = []
    for k, vals in diff.items():
        first = json.dumps(vals[0], default=str)
        cells = "".join(
            f'<td class="{"diff" if json.dumps(v, default=str) != first else "same"}">'
            f"{html.escape(json.dumps(v, default=str))}</td>"
            for v in vals
        )
        rows.append(f"<tr><th>{html.escape(k)}</th>{cells}</tr>")
    return (
        "<h2>Config differences</h2><p>Highlighted: differs from the first run.</p>"
        f'<table class="configdiff"><tr><th>key</th>{head}</tr>{"".join(rows)}</table>'
    )


def _html_grids(runs: list[Run]) -> str:
    figs = []
    for r in runs:
        for kind, path in r.images.items():
            figs.append(
                f'<figure><img class="grid" alt="{html.escape(r.label)} {kind}" src="{data_uri(path)}">'
                f"<figcaption>{html.escape(r.label)}<br>{html.escape(path.name)}</figcaption></figure>"
            )
    return '<h2>Latest image grids</h2><div class="grids">' + "".join(figs) + "</div>"


def write_html(
    runs: list[Run], metric: str, plots: dict[str, Path], out: Path, extra: str = ""
) -> Path:
    """``report.html``: one file with leaderboard, curves, grids and config differences."""
    curves = "".join(
        f'<img class="plot" alt="{html.escape(k)}" src="{data_uri(p)}">' for k, p in plots.items()
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>lgen compare</title>"
        f"<style>{CSS}</style></head><body><h1>Comparison of {len(runs)} runs</h1>"
        f"{extra}{_html_leaderboard(runs, metric)}"
        f'<h2>Curves</h2><div class="plots">{curves}</div>'
        f"{_html_grids(runs)}{_html_diff(runs)}</body></html>"
    )
    path = out / "report.html"
    with atomic_write(path) as f:
        f.write(page)
    return path


def write_report(runs: list[Run], metric: str, out: Path, extra_html: str = "") -> dict[str, Path]:
    """Write report.md, report.html and plots/*.png under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    plots = plot_curves(runs, out / "plots")
    return {
        "markdown": write_markdown(runs, metric, plots, out),
        "html": write_html(runs, metric, plots, out, extra_html),
        "plots": out / "plots",
    }
