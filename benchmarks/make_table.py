"""Write the README's performance table from the JSON results under ``benchmarks/results/``.

The table goes between ``<!-- perf-table:start -->`` and ``<!-- perf-table:end -->`` in the README
(``--readme``), or to stdout with ``--print``. Each section names the machine its figures come from.

    python benchmarks/make_table.py [--results benchmarks/results] [--readme README.md] [--print]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from benchmarks.common import RESULTS, fmt

START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"


def _machine(r: dict) -> str:
    m = r["machine"]
    quick = " (--quick: smoke-sized, not a measurement)" if r.get("quick") else ""
    return f"_{m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch thread(s), torch {m['torch']}{quick}_"


def framework(r: dict) -> list[str]:
    rows = [
        "**Framework overhead** (`benchmarks/framework_overhead.py`) " + _machine(r),
        "",
        "| family | plain / lgen steps-only (min / median / max) | lgen ms/step | validation share of an epoch | of which the model's validation_step | the rest (metrics, grids, checkpoints) |",
        "|---|---|---|---|---|---|",
    ]
    for name, f in r["families"].items():
        split = (
            f"{100 * f['validation_step_share']:.1f}% | {100 * f['framework_share']:.1f}%"
            if "framework_share" in f
            else "not measured | not measured"
        )
        rows.append(
            f"| {name} | {fmt(f['ratio_plain_over_lgen'])} | {1000 * f['lgen_step_s']:.0f} | "
            f"{100 * f['validation_share']:.1f}% | {split} |"
        )
    rows += [f"| {name} | skipped: {why} | | | | |" for name, why in r.get("skipped", {}).items()]
    return rows


def samplers(r: dict) -> list[str]:
    head = "**Samplers vs diffusers** (`benchmarks/samplers.py`) " + _machine(r)
    if "missing" in r:
        return [head, "", r["missing"]]
    setting = (
        f"T={r['timesteps']}, DDIM-{r['ddim_steps']}, DPM-Solver++(2M)-{r.get('solver_steps', '?')} "
        f"(diffusers' DPMSolverMultistepScheduler), DDPM all T steps, batch {r['batch']}, U-Net widths {r['widths']}; "
        f"DDIM output vs diffusers: max pixel difference {r.get('ddim_max_abs_diff', float('nan')):.2g}"
    )
    rows = [
        head,
        "",
        setting,
        "",
        "| sampler | diffusers / project time (min / median / max) | sampler arithmetic per step, null network: project / diffusers (us) |",
        "|---|---|---|",
    ]
    for name, s in r["samplers"].items():
        o = s.get("overhead_us_per_step")
        own = f"{o['project']:.0f} / {o['diffusers']:.0f}" if o else "not measured"
        rows.append(f"| {name} | {fmt(s['ratio_diffusers_over_project'])} | {own} |")
    return rows


def metric_cost(r: dict) -> list[str]:
    rows = [
        "**Generation metrics** (`benchmarks/metric_cost.py`) " + _machine(r),
        "",
        "| cache | setup s | metrics s per evaluation | share of an epoch | amortised at the default schedule |",
        "|---|---|---|---|---|",
    ]
    for name in ("cold", "warm"):
        c = r[name]
        rows.append(
            f"| {name} | {c['setup_s']:.1f} | {c['metric_per_val_epoch_s']:.2f} | "
            f"{100 * c['ratio_per_val_epoch']:.1f}% | {100 * c['amortised_ratio_default_schedule']:.1f}% |"
        )
    rows += ["", "| generated samples | metric-state MB | scoring s |", "|---|---|---|"]
    rows += [
        f"| {m['num_samples']} | {m['state_mb']:.1f} | {m['score_s']:.2f} |" for m in r["memory"]
    ]
    return rows


def data(r: dict) -> list[str]:
    rows = [
        "**Data loading vs training** (`benchmarks/data_throughput.py`) " + _machine(r),
        "",
        "| experiment | loader img/s | training img/s | loader / training (min / median / max) |",
        "|---|---|---|---|",
    ]
    for name, e in r["experiments"].items():
        rows.append(
            f"| {name} | {e['loader_images_per_s']:.0f} | {e['train_images_per_s']:.0f} | "
            f"{fmt(e['ratio_loader_over_train'])} |"
        )
    return rows


SECTIONS = {
    "framework_overhead": framework,
    "samplers": samplers,
    "metric_cost": metric_cost,
    "data_throughput": data,
}


def table(results: Path) -> str:
    """The Markdown of every result file found (a note for each missing one)."""
    parts: list[str] = []
    for name, render in SECTIONS.items():
        path = results / f"{name}.json"
        if path.is_file():
            parts += [*render(json.loads(path.read_text())), ""]
        else:
            parts += [f"_{name}: no results yet (run `python -m benchmarks.{name}`)_", ""]
    return "\n".join(parts).rstrip() + "\n"


def write_readme(readme: Path, text: str) -> None:
    """Replace the block between the markers in ``readme`` with ``text``."""
    old = readme.read_text()
    if START not in old or END not in old:
        raise SystemExit(f"{readme}: add the markers {START} and {END} where the table goes")
    new = re.sub(
        re.escape(START) + ".*?" + re.escape(END),
        lambda _: f"{START}\n{text}{END}",
        old,
        flags=re.S,
    )
    readme.write_text(new)
    print(f"updated {readme}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument(
        "--readme", type=Path, default=Path(__file__).resolve().parent.parent / "README.md"
    )
    ap.add_argument(
        "--print", action="store_true", help="print the table instead of editing README"
    )
    args = ap.parse_args()
    text = table(args.results)
    if args.print:
        print(text)
    else:
        write_readme(args.readme, text)


if __name__ == "__main__":
    main()
