"""The benchmark suite's tables: one data structure (``suite_tables``), rendered as Markdown
(``suite.md``, docs) and as HTML (``report.html``) with the same cells."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from lightning_gen.compare.runs import Run
from lightning_gen.compare.suite import EntryResult, suite_html, suite_markdown, suite_tables

NASTY = "<script>alert('x')</script> a | b & c"


def _results() -> tuple[list[EntryResult], dict]:
    def run(i: int, fid: float) -> Run:
        return Run(
            Path(f"/r/vae/{i}"),
            f"vae/{i}",
            metrics={"test": {"test/fid": fid, "test/precision": 0.5}, "time": {}},
            probe={"sampling_images_per_s": 100.0, "sampler": {"steps": 20}},
        )

    broken = Run(Path("/r/gan/0"), "gan/0", error=f"Traceback\n  line 1\nValueError: {NASTY}")
    results = [
        EntryResult("vae", "vae", [run(0, 20.0), run(1, 22.0)]),
        EntryResult("gan", "gan", [broken]),
        EntryResult("ldm", "ldm", []),
    ]
    return results, {"vae": {"training": "straightforward", "quality": NASTY}}


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables, current = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = []
            tables.append(current)
        if not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            current.append([c.strip().replace("\\|", "|") for c in cells])
    return tables


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_html_and_markdown_suite_tables_carry_the_same_cells():
    results, claims = _results()
    tables = suite_tables(results, claims)
    assert [t.css_class for t in tables] == ["suite", "claims", "failed-runs"]
    md = _markdown_tables(suite_markdown(results, claims, "1 epoch"))
    parser = _Tables()
    page = suite_html(results, claims, "1 epoch")
    parser.feed(page)
    expected = [[t.head, *t.rows] for t in tables]
    assert md == expected
    assert parser.tables == expected
    # what the cells say: seeds ok/run, a not-run entry, the escaped claim and error
    assert md[0][1][:2] == ["vae", "2/2"] and md[0][2][:2] == ["gan", "0/1"]
    assert md[0][3][:2] == ["ldm", "not run"]
    assert ["vae", "quality", NASTY] == md[1][2][:3]
    assert md[2][1] == ["gan", "gan/0", f"Traceback   line 1 ValueError: {NASTY}"]
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<table class="suite">' in page and '<p class="budget">Budget: 1 epoch</p>' in page


def test_curves_spanning_two_orders_of_magnitude_get_a_log_axis():
    from lightning_gen.compare.report import wants_log_scale

    assert wants_log_scale([1033.4, 228.7, 15.1, 7.4])  # an FID curve
    assert not wants_log_scale([0.9, 0.5, 0.1])  # a loss within one decade
    assert not wants_log_scale([0.0, 5.0, 500.0])  # zero has no logarithm
    assert not wants_log_scale([-1.0, 200.0])
    assert not wants_log_scale([float("nan")])
    assert wants_log_scale([float("nan"), 1.0, 100.0])
