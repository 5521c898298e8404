"""The benchmark suite table: the qualitative claims of a family next to measured numbers.

Per suite entry (one experiment, several seeds): stability (spread and 95% interval of the final
FID over seeds, divergence count), quality (FID, KID, precision), speed (training and sampling
images/s, with the sampler), diversity (recall, memorisation rate), control (conditional models:
share of samples classified as the requested class) and parameter count.
"""

from __future__ import annotations

import html
import math
import statistics
from dataclasses import dataclass
from typing import Any

from lightning_gen.compare.report import html_table
from lightning_gen.compare.runs import Run
from lightning_gen.compare.table import fmt, params

# two-sided 95% Student-t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
ASPECTS = ("training", "quality", "speed", "diversity", "control")


def mean_interval(values: list[float]) -> tuple[float, float, tuple[float, float] | None]:
    """Mean, sample standard deviation and the 95% t-interval of the mean (None for < 2 values)."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, float("nan"), None
    sd = statistics.stdev(values)
    half = T95.get(len(values) - 1, 1.96) * sd / math.sqrt(len(values))
    return m, sd, (m - half, m + half)


def _spec(value: Any) -> str:
    """An option for the table: an object spec ``{_target_: a.b.C, k: v}`` as ``C(k=v)``."""
    if isinstance(value, dict) and "_target_" in value:
        args = ", ".join(f"{k}={v}" for k, v in value.items() if k != "_target_")
        return f"{str(value['_target_']).rsplit('.', 1)[-1]}({args})"
    return str(value)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(vals) if vals else None


@dataclass
class EntryResult:
    """The measurements of one suite entry over its seeds."""

    name: str
    group: str
    runs: list[Run]

    @property
    def ok(self) -> list[Run]:
        return [r for r in self.runs if not r.failed]

    def metric(self, key: str) -> list[float | None]:
        return [r.value(key) for r in self.ok]

    def divergences(self) -> int:
        """Runs stopped by a non-finite loss, or whose final FID is not finite."""
        n = sum(1 for r in self.runs if r.failed and "Diverg" in (r.error or ""))
        fids = [r.value("test/fid") for r in self.ok]
        return n + sum(1 for f in fids if f is not None and not math.isfinite(f))

    def train_images_per_s(self) -> float | None:
        rates = []
        for r in self.ok:
            t = r.metrics.get("time") or {}
            secs, imgs = t.get("time/train_seconds"), t.get("time/train_images")
            if secs and imgs:
                rates.append(imgs / secs)
        return _mean(rates)

    def probe(self, key: str) -> float | None:
        return _mean([r.probe.get(key) for r in self.ok])

    def sampler(self) -> str:
        for r in self.ok:
            if r.probe.get("sampler"):
                s = r.probe["sampler"]
                return (
                    ", ".join(f"{k}={_spec(v)}" for k, v in s.items())
                    if isinstance(s, dict)
                    else str(s)
                )
        return "missing"

    def fid_summary(self) -> str:
        fids = [f for f in self.metric("test/fid") if f is not None and math.isfinite(f)]
        if not fids:
            return "missing"
        m, sd, ci = mean_interval(fids)
        if ci is None:
            return f"{m:.3g} (1 seed)"
        return f"{m:.3g} ± {sd:.2g} (95% CI {ci[0]:.3g}..{ci[1]:.3g}, n={len(fids)})"

    def measured(self) -> dict[str, str]:
        """One measured sentence per aspect of the claims table ("not run" for an entry without runs)."""
        if not self.runs:
            return {a: "not run" for a in (*ASPECTS, "params")}
        failed = len(self.runs) - len(self.ok)
        ctrl = self.probe("control_accuracy")
        p = _mean([params(r) for r in self.ok])
        return {
            "training": f"final FID {self.fid_summary()}; diverged {self.divergences()}/"
            f"{len(self.runs)}; failed {failed}",
            "quality": f"FID {fmt(_mean(self.metric('test/fid')))}, KID "
            f"{fmt(_mean(self.metric('test/kid_mean')))}, precision "
            f"{fmt(_mean(self.metric('test/precision')))}",
            "speed": f"train {fmt(self.train_images_per_s(), 3)} img/s; sampling "
            f"{fmt(self.probe('sampling_images_per_s'), 3)} img/s ({self.sampler()})",
            "diversity": f"recall {fmt(_mean(self.metric('test/recall')))}, memorisation "
            f"{fmt(self.probe('memorisation_rate'))}",
            "control": "unconditional (no class control)"
            if ctrl is None
            else f"requested class hit {ctrl:.3f}",
            "params": "missing" if p is None else f"{int(p):,}",
        }


def group_entries(runs: list[Run], entries: dict[str, Any]) -> list[EntryResult]:
    """Runs grouped by suite entry: a run belongs to the entry whose folder it lies in."""
    results = []
    for name, spec in entries.items():
        mine = [r for r in runs if name in r.path.parts]
        results.append(EntryResult(name, str((spec or {}).get("group", name)), mine))
    return results


@dataclass(frozen=True)
class Table:
    """One table of the suite report: a heading (empty for the main table), column names, rows
    of cell texts. ``suite_markdown`` and ``suite_html`` both render ``suite_tables``."""

    title: str
    css_class: str
    head: list[str]
    rows: list[list[str]]


SUITE_HEAD = [
    "entry",
    "seeds ok/run",
    "final test/fid (mean ± sd, 95% CI)",
    "diverged",
    "KID",
    "precision",
    "recall",
    "memorisation",
    "train img/s",
    "sampling img/s (sampler)",
    "control",
    "params",
]


def _suite_row(e: EntryResult) -> list[str]:
    if not e.runs:
        return [e.name, "not run", *["-"] * (len(SUITE_HEAD) - 2)]
    ctrl = e.probe("control_accuracy")
    return [
        e.name,
        f"{len(e.ok)}/{len(e.runs)}",
        e.fid_summary(),
        str(e.divergences()),
        fmt(_mean(e.metric("test/kid_mean"))),
        fmt(_mean(e.metric("test/precision"))),
        fmt(_mean(e.metric("test/recall"))),
        fmt(e.probe("memorisation_rate")),
        fmt(e.train_images_per_s(), 3),
        f"{fmt(e.probe('sampling_images_per_s'), 3)} ({e.sampler()})",
        "n/a" if ctrl is None else f"{ctrl:.3f}",
        e.measured()["params"],
    ]


def suite_tables(results: list[EntryResult], claims: dict[str, dict[str, str]]) -> list[Table]:
    """The suite table (one row per entry), the claims-vs-measurements table and, if any run
    failed, the failed runs with their errors."""
    claim_rows = []
    for e in results:
        claim, m = claims.get(e.group, {}), e.measured()
        claim_rows += [[e.name, a, claim.get(a, "-"), m[a]] for a in ASPECTS]
    tables = [
        Table("", "suite", SUITE_HEAD, [_suite_row(e) for e in results]),
        Table(
            "Claims next to measurements",
            "claims",
            ["entry", "aspect", "claim", "measured"],
            claim_rows,
        ),
    ]
    failed = [  # one line per cell: an error's traceback lines joined
        [e.name, r.label, " ".join((r.error or "").splitlines())]
        for e in results
        for r in e.runs
        if r.failed
    ]
    if failed:
        tables.append(Table("Failed runs", "failed-runs", ["entry", "run", "error"], failed))
    return tables


def suite_markdown(
    results: list[EntryResult], claims: dict[str, dict[str, str]], budget: str
) -> str:
    """``suite_tables`` as Markdown, after the budget line."""
    lines = [f"Budget: {budget}"]
    for t in suite_tables(results, claims):
        lines += ["", f"### {t.title}", ""] if t.title else [""]
        lines.append(_md(t.head, t.rows))
    return "\n".join(lines)


def suite_html(results: list[EntryResult], claims: dict[str, dict[str, str]], budget: str) -> str:
    """``suite_tables`` as HTML tables (escaped, ``missing`` cells greyed like the leaderboard's)."""
    parts = [f'<p class="budget">Budget: {html.escape(budget)}</p>']
    for t in suite_tables(results, claims):
        if t.title:
            parts.append(f"<h3>{html.escape(t.title)}</h3>")
        parts.append(html_table(t.head, t.rows, t.css_class))
    return "".join(parts)


def _md(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += [
        "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |" for r in rows
    ]
    return "\n".join(out)
