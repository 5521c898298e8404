"""`lgen benchmark suite=micro` (once per session, tiny real trainings) and `lgen compare` on its runs.

The micro suite trains VAE and DCGAN x 2 seeds under debug=smoke plus one deliberately broken run;
the tests check the reports against the runs' own files, never just that something was written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from lightning_gen.commands.benchmark import benchmark, replace_block
from lightning_gen.commands.compare import compare, paths_to_override
from lightning_gen.compare.runs import load_runs, normalize_record, read_curves
from lightning_gen.compare.table import fmt, leaderboard
from lightning_gen.errors import ConfigError
from lightning_gen.metrics.memorisation import memorisation_rate
from lightning_gen.metrics.protocol import protocol_key
from tests.helpers.cli import run_lgen

# a run that fails at data setup (Hydra list elements holding '=' must be quoted)
BROKEN = (
    "+suite.entries.broken={group:autoencoder,"
    "overrides:['experiment=vae_mnist','data.batch_size=100000']}"
)


def _compose(name: str, overrides: list[str]):
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        return compose(name, overrides=overrides)


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    env = {"LGEN_ROOT": str(root), "LGEN_CACHE": str(root / "cache"), "OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        cfg = _compose(
            "benchmark",
            [
                "suite=micro",
                BROKEN,
                "overrides=['hydra/launcher=local']",  # submitit's local executor: the SLURM path
                f"output={root}/out",
                f"paths.root_dir={root}",
                "probe.num_samples=64",
                "probe.chunk_size=32",
                f"docs=[{root}/doc.md]",
                "command_line='lgen benchmark suite=micro'",
            ],
        )
        benchmark(cfg)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return root / "out"


def _ok_runs(out: Path) -> list[Path]:
    return sorted(p.parent for p in out.glob("runs/*/*/metrics.json"))


def _md_rows(text: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| #") and not line.startswith("| entry")
    ]


def test_leaderboard_rows_match_each_runs_metrics_json(suite):
    runs = _ok_runs(suite)
    assert len(runs) == 4  # vae, dcgan x 2 seeds
    report = (suite / "report.md").read_text()
    board = report.split("## Config differences")[0]
    rows = {r[1]: r for r in _md_rows(board) if r[0].isdigit()}
    assert len(rows) == 4
    for run in runs:
        m = json.loads((run / "metrics.json").read_text())
        label = f"{run.parent.name}/{run.name}"
        row = rows[label]
        assert row[5] == fmt(m["test"]["test/fid"])  # the ranking column, from metrics.json
        assert row[-3] == f"{m['model']['model/params']:,}" and m["model"]["model/params"] > 1000
        assert row[-2] == str(m["global_step"]) and float(row[-1]) == pytest.approx(
            m["time"]["time/train_seconds"], abs=0.06
        )
        assert m["time"]["time/train_images"] == 3 * 16  # debug=smoke: 3 batches of 16
    # ranked by test/fid ascending within the one protocol group
    ranked = [r for r in _md_rows(board) if r[0].isdigit()]
    fids = [float(r[5]) for r in ranked]
    assert [r[0] for r in ranked] == ["1", "2", "3", "4"] and fids == sorted(fids)
    assert board.count("### Protocol ") == 1  # data.seed fixed: every seed shares one protocol


def test_suite_jobs_went_through_the_submitit_launcher(suite):
    for entry in ("vae", "dcgan", "broken"):
        assert (suite / "runs" / entry / ".submitit").is_dir(), entry
    assert "hydra/launcher=local" in (suite / "logs" / "vae.log").read_text().splitlines()[0]


def test_failed_run_is_a_row_with_its_error_and_missing_cells(suite):
    report = (suite / "report.md").read_text()
    unranked = report.split("### Not ranked")[1].split("## Config differences")[0]
    broken = [r for r in _md_rows(unranked) if r[1].startswith("broken/")]
    assert len(broken) == 2  # both seeds ran and failed; the others continued
    for row in broken:
        assert "data.batch_size=100000 is larger than the training split" in row[-1]
        assert row[5] == "missing" and "0" not in row[5:9]  # missing, never zero
    failed = json.loads(next(suite.glob("runs/broken/*/failed.json")).read_text())
    assert failed["type"] == "ConfigError"
    table = (suite / "suite.md").read_text()
    assert "| broken | 0/2 |" in table and "### Failed runs" in table


def test_suite_table_aggregates_seeds_and_probes(suite):
    table = (suite / "suite.md").read_text()
    fids = [
        json.loads((r / "metrics.json").read_text())["test"]["test/fid"]
        for r in _ok_runs(suite)
        if r.parent.name == "vae"
    ]
    mean = sum(fids) / 2
    row = next(r for r in _md_rows(table) if r[0] == "vae")
    assert row[1] == "2/2" and row[2].startswith(f"{mean:.3g} ± ") and "95% CI" in row[2]
    probe = json.loads(next(suite.glob("runs/vae/*/benchmark_probe.json")).read_text())
    assert 0 <= probe["memorisation_rate"] <= 1 and probe["sampling_images_per_s"] > 0
    assert probe["control_accuracy"] is None  # unconditional
    claims = [r for r in _md_rows(table.split("### Claims")[1]) if r[0] == "dcgan"]
    assert ["dcgan", "training", "unstable"] == claims[0][:3] and "diverged 0/2" in claims[0][3]
    # the docs block was written by the command, with the command line under it
    doc = (suite.parent / "doc.md").read_text()
    assert "<!-- benchmark:micro:start -->" in doc and "Made by `lgen benchmark suite=micro`" in doc


def test_curves_come_from_each_runs_csv(suite):
    run = next(r for r in _ok_runs(suite) if r.parent.name == "vae")
    curves = read_curves(run / "csv" / "metrics.csv")
    loaded = next(r for r in load_runs([str(suite / "runs")]) if r.path == run.resolve())
    assert loaded.curves == curves and curves["train/loss"][0][0] == 0
    assert len(curves["train/loss"]) == 3  # 3 optimizer steps, log_every_n_steps=1 (VAE: 1/batch)
    assert (suite / "plots" / "train_loss.png").stat().st_size > 1000
    assert "![train/loss](plots/train_loss.png)" in (suite / "report.md").read_text()


def test_protocols_are_never_ranked_together(suite, tmp_path):
    # copy one run and change the protocol of its numbers (a different number of generated images)
    src = _ok_runs(suite)[0]
    for run in _ok_runs(suite)[:2]:
        shutil.copytree(run, tmp_path / "runs" / run.name)
    other = tmp_path / "runs" / src.name
    lines = [json.loads(x) for x in (other / "generation_metrics.jsonl").read_text().splitlines()]
    for rec in lines:
        rec["protocol"]["num_samples"] = 999
    (other / "generation_metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    runs = load_runs([str(tmp_path / "runs")])
    groups, unranked = leaderboard(runs, "test/fid")
    assert len(groups) == 2 and not unranked and all(len(g.rows) == 1 for g in groups)
    files = compare(_compose("compare", [f"runs=[{tmp_path}/runs]", f"output={tmp_path}/rep"]))
    md = files["markdown"].read_text()
    assert "**2 protocols**" in md and "num_samples=999" in md


def test_records_in_the_shared_format_are_read_too():
    new = {
        "stage": "test",
        "epoch": 1,
        "global_step": 3,
        "values": {"test/fid": 5.0},
        "seconds": 1.0,
        "protocol": {"num_samples": 64},
        "protocol_key": "abcd",
        "source": "evaluate",
        "checkpoint": None,
    }
    old = {"stage": "val", "epoch": 0, "global_step": 3, "fid": 6.0, "protocol": {"a": 1}}
    assert normalize_record(new)["values"] == {"test/fid": 5.0}
    # the key is recomputed from the protocol (the one protocol_key of metrics/protocol.py): a
    # stored key that does not match its protocol is never trusted
    assert normalize_record(new)["protocol_key"] == protocol_key({"num_samples": 64}) != "abcd"
    rec = normalize_record(old)
    assert rec["values"] == {"val/fid": 6.0} and len(rec["protocol_key"]) == 16


def test_compare_cli_takes_paths_and_globs(suite, tmp_path):
    assert paths_to_override(["runs/a/*", "metric=val/fid"]) == [
        "metric=val/fid",
        "runs=['runs/a/*']",
    ]
    r = run_lgen(
        "compare", str(suite / "runs" / "vae" / "*"), f"output={tmp_path}/c", root=tmp_path
    )
    assert r.returncode == 0, r.stderr[-2000:]
    md = (tmp_path / "c" / "report.md").read_text()
    assert "Comparison of 2 runs" in md and (tmp_path / "c" / "report.html").is_file()
    with pytest.raises(ConfigError, match="holds no run folder"):
        load_runs([str(tmp_path / "nothing")])


def test_unknown_suite_lists_the_valid_ones(tmp_path):
    r = run_lgen("benchmark", "suite=nope", root=tmp_path)
    assert r.returncode != 0
    for name in ("micro", "families_mnist_cpu", "families_gpu"):
        assert name in r.stderr


def test_memorisation_rate_copies_vs_fresh_draws():
    train = torch.randn(300, 8)
    assert memorisation_rate(train[:50] + 1e-6, train) == 1.0  # copies of training points
    assert memorisation_rate(train[:50] + 100.0, train) == 0.0  # far from everything
    fresh = memorisation_rate(torch.randn(300, 8), train)
    assert 0.0 < fresh < 0.9


def test_replace_block_is_idempotent(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("intro\n")
    replace_block(doc, "s", "table 1")
    replace_block(doc, "s", "table 2")
    text = doc.read_text()
    assert text.count("benchmark:s:start") == 1 and "table 2" in text and "table 1" not in text
    assert re.match(r"intro\n<!-- benchmark:s:start -->\ntable 2\n", text)


def test_html_report_renders_in_a_real_browser(suite):
    from tests.helpers.browser import Page

    html = (suite / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch
    with Page() as page:
        page.open(suite / "report.html")
        seen = page.evaluate(
            """JSON.stringify({
              ranked: document.querySelectorAll('table.leaderboard tr.run').length,
              failed: [...document.querySelectorAll('tr.failed td:last-child')].map(t => t.textContent),
              firstRun: document.querySelector('table.leaderboard tr.run td:nth-child(2)').textContent,
              plots: [...document.querySelectorAll('img.plot')].map(i => [i.complete, i.naturalWidth]),
              grids: [...document.querySelectorAll('img.grid')].map(i => [i.complete, i.naturalWidth]),
              diff: document.querySelectorAll('table.configdiff td.diff').length,
              visible: document.querySelector('table.leaderboard').getBoundingClientRect().height,
              suite: [...document.querySelectorAll('table.suite tr')].map(
                tr => [...tr.cells].map(c => c.textContent)),
              claims: [...document.querySelectorAll('table.claims tr')].map(
                tr => [...tr.cells].map(c => c.textContent)),
              suiteVisible: document.querySelector('table.suite').getBoundingClientRect().height,
              pre: document.querySelectorAll('pre').length
            })"""
        )
        errors = page.errors()
    got = json.loads(seen)
    assert errors == []
    assert got["ranked"] == 4 and got["visible"] > 50
    assert len(got["failed"]) == 2 and all("batch_size=100000" in t for t in got["failed"])
    best = min(
        _ok_runs(suite),
        key=lambda r: json.loads((r / "metrics.json").read_text())["test"]["test/fid"],
    )
    assert got["firstRun"] == f"{best.parent.name}/{best.name}"
    assert len(got["plots"]) >= 5 and all(ok and w > 100 for ok, w in got["plots"])
    assert len(got["grids"]) >= 4 and all(ok and w > 10 for ok, w in got["grids"])
    assert got["diff"] >= 3  # seed and model differ between the runs: highlighted cells
    # the suite and claims tables are real tables with the cells of suite.md
    suite_md = (suite / "suite.md").read_text()
    head, *rows = got["suite"]
    assert head[:2] == ["entry", "seeds ok/run"] and got["suiteVisible"] > 50 and got["pre"] == 0
    assert [r[:2] for r in rows] == [["vae", "2/2"], ["dcgan", "2/2"], ["broken", "0/2"]]
    assert rows == _md_rows(suite_md.split("### Claims")[0])
    assert got["claims"][0] == ["entry", "aspect", "claim", "measured"]
    claim_md = _md_rows(suite_md.split("### Claims")[1].split("### Failed")[0])
    assert got["claims"][1:] == claim_md and len(claim_md) == 3 * 5


@pytest.mark.parametrize("name", ["micro", "families_mnist_cpu", "families_gpu"])
def test_every_suite_entry_composes_into_a_train_config(name, tmp_path):
    cfg = _compose("benchmark", [f"suite={name}", f"output={tmp_path}"])
    suite = cfg.suite
    assert len(suite.seeds) >= (2 if name == "micro" else 3) and suite.budget.description
    for entry_name, entry in suite.entries.items():
        overrides = [
            *suite.common,
            *suite.budget.overrides,
            *[str(o).replace("{runs}", str(tmp_path)) for o in entry.overrides],
        ]
        train = _compose("train", overrides)
        assert train.model._target_ and train.callbacks.generation_metrics._target_, entry_name
        assert train.data.seed == 0  # one data split (one protocol) for every seed
        assert entry.group in suite.claims, entry_name


def test_suite_sets_its_probe_settings_and_the_command_line_wins(tmp_path):
    own = _compose("benchmark", ["suite=families_mnist_cpu", f"output={tmp_path}"])
    assert own.probe.num_samples == own.suite.probe.num_samples != 256
    assert own.probe.chunk_size == own.suite.probe.chunk_size
    assert own.probe.train_count == 2000  # not set by the suite: benchmark.yaml's default
    cli = _compose("benchmark", ["suite=families_mnist_cpu", "probe.num_samples=64"])
    assert cli.probe.num_samples == 64
    assert _compose("benchmark", ["suite=micro"]).probe.num_samples == 256


def test_unknown_suite_probe_key_is_an_error_naming_it(tmp_path):
    cfg = _compose(
        "benchmark", ["suite=micro", "+suite.probe.samples=10", f"output={tmp_path}", "train=false"]
    )
    with pytest.raises(ConfigError, match=r"unknown probe key.*'samples'.*num_samples"):
        benchmark(cfg)


def test_suite_table_names_a_sampler_spec_by_its_class_and_options():
    from lightning_gen.compare.runs import Run
    from lightning_gen.compare.suite import EntryResult

    spec = {"_target_": "lightning_gen.diffusion.samplers.DPMSolverPP", "steps": 10}
    run = Run(Path("r"), "r", probe={"sampler": {"sampler": spec, "guidance_scale": 2.0}})
    got = EntryResult("cddpm", "diffusion", [run]).sampler()
    assert got == "sampler=DPMSolverPP(steps=10), guidance_scale=2.0"
    run = Run(Path("r"), "r", probe={"sampler": "one forward pass"})
    assert EntryResult("vae", "autoencoder", [run]).sampler() == "one forward pass"
