"""``lgen benchmark suite=<name>``: experiments x seeds under one budget, probed and compared.

    lgen benchmark suite=families_mnist_cpu                   # CPU, bundled MNIST (< 30 min)
    lgen benchmark suite=families_gpu trainer=gpu             # CIFAR-10 / CelebA-64, Inception

Each suite entry runs as one Hydra multirun over the suite's seeds (``lgen train -m``) into
``<output>/runs/<entry>/``; a failed run is recorded (``failed.json``) and the others continue.
Then every finished run is probed (sampling speed, memorisation, control; ``benchmark_probe.json``)
and ``<output>/`` gets the compare report plus ``suite.md``, the claims-vs-measurements table.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from lightning_gen.cli_errors import user_errors
from lightning_gen.compare.probe import probe_run
from lightning_gen.compare.report import write_report
from lightning_gen.compare.runs import load_runs
from lightning_gen.compare.suite import group_entries, suite_html, suite_markdown
from lightning_gen.compare.table import default_metric
from lightning_gen.errors import ConfigError
from lightning_gen.fileio import atomic_write

MARK = ("<!-- benchmark:{name}:start -->", "<!-- benchmark:{name}:end -->")


def train_command(suite: DictConfig, entry: DictConfig, out: Path, extra: list[str]) -> list[str]:
    """The ``lgen train -m`` command of one entry: common, budget and entry overrides, seeds.

    ``{runs}`` in an entry's override is the suite's runs folder (e.g. a latent diffusion entry
    naming the checkpoint of the suite's own VAE run).
    """
    seeds = ",".join(str(s) for s in suite.seeds)
    runs = str(out.parent)
    return [
        sys.executable,
        "-m",
        "lightning_gen.commands.cli",
        "train",
        "-m",
        *suite.common,
        *suite.budget.overrides,
        *[str(o).replace("{runs}", runs) for o in entry.overrides],
        *extra,
        f"seed={seeds}",
        f"hydra.sweep.dir={out}",
    ]


def run_entry(name: str, cmd: list[str], out: Path, logs: Path) -> float:
    """Run one entry's multirun (its log in ``logs/<name>.log``); a multirun that fails before any
    job exists leaves ``<out>/failed.json`` so the entry still shows as failed. Returns seconds."""
    t0 = time.perf_counter()
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("w") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    if proc.returncode and not any(out.glob("*/.hydra")):
        lines = (logs / f"{name}.log").read_text().splitlines()[1:]  # after the command line
        tail = [x.strip() for x in lines if x.strip() and "HYDRA_FULL_ERROR" not in x][-4:]
        out.mkdir(parents=True, exist_ok=True)
        (out / "failed.json").write_text(
            json.dumps({"type": f"exit {proc.returncode}", "error": " / ".join(tail)})
        )
    return time.perf_counter() - t0


def probe_all(runs_dir: Path, probe: DictConfig) -> None:
    """Write ``benchmark_probe.json`` into every finished run (an error there is recorded, not raised)."""
    cache: dict[str, Any] = {}
    for ckpt in sorted(runs_dir.glob("**/checkpoints/last.ckpt")):
        run = ckpt.parent.parent
        if (run / "failed.json").exists():
            continue
        try:
            result = probe_run(
                run, probe.num_samples, probe.chunk_size, probe.train_count, data_cache=cache
            )
        except Exception as exc:  # noqa: BLE001 - one bad run must not stop the suite
            result = {"error": f"{type(exc).__name__}: {exc}"}
        (run / "benchmark_probe.json").write_text(json.dumps(result, indent=2, default=str))


def replace_block(path: Path, name: str, text: str) -> None:
    """Replace the text between the suite's start/end markers in ``path`` (appended when absent)."""
    start, end = (m.format(name=name) for m in MARK)
    old = path.read_text() if path.is_file() else ""
    block = f"{start}\n{text}\n{end}"
    if start in old and end in old:
        new = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, old, flags=re.S)
    else:
        new = old + ("\n" if old and not old.endswith("\n") else "") + block + "\n"
    with atomic_write(path) as f:
        f.write(new)


def suite_section_html(cfg: DictConfig, tables: str, timing: str) -> str:
    """The suite's section of ``report.html``: what ``suite.md`` says, as HTML (tables included)."""
    esc = html.escape
    made = cfg.get("command_line")
    return (
        f"<h2>Benchmark suite <code>{esc(str(cfg.suite.name))}</code></h2>"
        f"<p>{esc(str(cfg.suite.description))}</p>{tables}"
        + (f"<p>Made by <code>{esc(str(made))}</code></p>" if made else "")
        + (f"<p>{esc(timing)}</p>" if timing else "")
    )


def benchmark(cfg: DictConfig) -> Path:
    """Run (or with ``reuse=true`` just re-report) the suite; returns the report folder."""
    suite = cfg.suite
    if not suite.get("entries"):
        raise ConfigError(f"suite {suite.get('name')!r} has no entries")
    unknown = sorted(set(suite.get("probe") or {}) - {"num_samples", "chunk_size", "train_count"})
    if unknown:
        raise ConfigError(
            f"suite {suite.get('name')!r}: unknown probe key(s) {unknown} under `probe:`; "
            "a suite may set num_samples, chunk_size, train_count"
        )
    out = Path(cfg.output).resolve()
    runs_dir = out / "runs"
    extra = list(cfg.get("overrides") or [])
    t0 = time.perf_counter()
    for name, entry in suite.entries.items():
        if not cfg.train or (cfg.reuse and (runs_dir / name).is_dir()):
            continue
        secs = run_entry(
            name, train_command(suite, entry, runs_dir / name, extra), runs_dir / name, out / "logs"
        )
        print(f"[benchmark] {name}: {secs:.0f}s", flush=True)
    if cfg.probe.enabled:
        probe_all(runs_dir, cfg.probe)
    wall = time.perf_counter() - t0
    runs = load_runs([str(runs_dir)])
    metric = cfg.metric or default_metric(runs)
    results = group_entries(runs, OmegaConf.to_container(suite.entries))
    claims = OmegaConf.to_container(suite.get("claims") or {})
    table = suite_markdown(results, claims, str(suite.budget.description))
    title = f"**Benchmark suite `{suite.name}`**\n\n{suite.description}\n\n"
    made = f"Made by `{cfg.command_line}`" if cfg.get("command_line") else ""
    timing = (
        f"Wall time of this run of the command: {wall / 60:.1f} min."
        if cfg.train and not cfg.reuse
        else ""
    )
    text = "\n\n".join(x for x in (title + table, made, timing) if x)
    with atomic_write(out / "suite.md") as f:
        f.write(text + "\n")
    extra = suite_section_html(
        cfg, suite_html(results, claims, str(suite.budget.description)), timing
    )
    write_report(runs, metric, out, extra_html=extra)
    for doc in cfg.get("docs") or []:
        replace_block(Path(doc), str(suite.name), text)
    print(
        f"[benchmark] {suite.name}: {len(runs)} runs in {wall:.0f}s -> {out}/suite.md, report.html"
    )
    return out


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="benchmark", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (``lgen benchmark``)."""
    with user_errors():
        benchmark(cfg)


if __name__ == "__main__":
    main()
