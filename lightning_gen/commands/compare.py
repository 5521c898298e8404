"""``lgen compare <runs...>``: a leaderboard, curves, image grids and config differences of runs.

    lgen compare runs/multirun/2026-01-01_10-00-00_000000
    lgen compare 'runs/vae_mnist/*' runs/dcgan_mnist/2026-01-01_10-00-00_000000 metric=val/fid

Arguments without ``=`` are run folders, globs or multirun folders (see ``lightning_gen.compare``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from lightning_gen.cli_errors import user_errors
from lightning_gen.compare.report import write_report
from lightning_gen.compare.runs import load_runs
from lightning_gen.compare.table import default_metric
from lightning_gen.errors import ConfigError


def quote(path: str) -> str:
    """``path`` as a single-quoted Hydra override string."""
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def paths_to_override(argv: list[str]) -> list[str]:
    """Positional paths -> one ``runs=[...]`` override; ``key=value`` and flags pass through."""
    paths = [a for a in argv if "=" not in a and not a.startswith("-")]
    rest = [a for a in argv if a not in paths]
    return [*rest, f"runs=[{','.join(quote(p) for p in paths)}]"] if paths else rest


def compare(cfg: DictConfig) -> dict[str, Path]:
    """Read the runs named in ``cfg.runs`` and write the report to ``cfg.output``."""
    if not cfg.runs:
        raise ConfigError(
            "compare: name the runs: lgen compare <run folder | glob | multirun folder>"
        )
    runs = load_runs([str(p) for p in cfg.runs])
    metric = cfg.metric or default_metric(runs)
    files = write_report(runs, metric, Path(cfg.output))
    failed = sum(r.failed for r in runs)
    print(
        f"compared {len(runs)} runs ({failed} failed) by {metric}: {files['markdown']}, {files['html']}"
    )
    return files


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="compare", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        compare(cfg)


def main() -> None:
    """Entry point (``lgen compare``): positional paths become ``runs=[...]``."""
    sys.argv = [sys.argv[0], *paths_to_override(sys.argv[1:])]
    _hydra_main()


if __name__ == "__main__":
    main()
