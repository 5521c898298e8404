"""Finding finished run folders and reading what a run left behind.

A run folder (``runs/<experiment>/<time>/`` or a multirun job folder) holds ``.hydra/``,
``config.yaml`` (resolved), ``metrics.json``, ``csv/metrics.csv``, ``generation_metrics.jsonl``,
``images/*.png`` and, when ``lgen train`` failed, ``failed.json`` (``{"error", "type"}``).
Nothing here imports torch: reading runs is cheap.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lightning_gen.errors import ConfigError
from lightning_gen.metrics.protocol import protocol_key as _protocol_key

# keys of a generation record that are not measured values (today's flat records carry the values
# next to them; the shared format of INTERFACES.md puts them under "values")
RECORD_META = {
    "stage",
    "epoch",
    "global_step",
    "seconds",
    "protocol",
    "protocol_key",
    "source",
    "checkpoint",
    "values",
}


def protocol_key(protocol: dict[str, Any] | None) -> str | None:
    """The protocol's key (``metrics.protocol.protocol_key``); None without a protocol."""
    if not protocol:
        return None
    return _protocol_key(json.loads(json.dumps(protocol, default=str)))


def normalize_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A generation record in the shared format, from today's flat lines or the new ones.

    Flat lines (``{"stage": "val", "fid": ...}``) get their values prefixed with the stage
    (``val/fid``); the protocol key is computed when the line has none.
    """
    stage = rec.get("stage", "val")
    values = rec.get("values")
    if values is None:
        values = {f"{stage}/{k}": v for k, v in rec.items() if k not in RECORD_META}
    protocol = rec.get("protocol") or {}
    return {
        "stage": stage,
        "epoch": rec.get("epoch"),
        "global_step": rec.get("global_step"),
        "values": {k: v for k, v in values.items() if isinstance(v, (int, float))},
        "seconds": rec.get("seconds"),
        "protocol": protocol,
        # recomputed, never trusted from the file: the key is a function of the protocol
        "protocol_key": protocol_key(protocol),
        "source": rec.get("source", "callback"),
        "checkpoint": rec.get("checkpoint"),
    }


@dataclass
class Run:
    """Everything ``lgen compare`` reads from one run folder."""

    path: Path
    label: str
    config: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, Any] = field(default_factory=dict)  # Hydra's group choices
    overrides: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # metrics.json
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # key -> (step, value)
    generation: list[dict[str, Any]] = field(default_factory=list)  # normalized records
    images: dict[str, Path] = field(default_factory=dict)  # kind -> latest grid
    probe: dict[str, Any] = field(default_factory=dict)  # benchmark_probe.json (lgen benchmark)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def family(self) -> str:
        target = str((self.config.get("model") or {}).get("_target_", ""))
        return self.choices.get("model") or target.rsplit(".", 1)[-1] or "?"

    @property
    def dataset(self) -> str:
        target = str((self.config.get("data") or {}).get("_target_", ""))
        return self.choices.get("data") or target.rsplit(".", 1)[-1] or "?"

    @property
    def experiment(self) -> str:
        return self.choices.get("experiment") or str(self.config.get("name", "?"))

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    def value(self, key: str) -> float | None:
        """The final value of ``key`` (``test/fid``...) from metrics.json, else None (missing)."""
        stage = key.split("/", 1)[0]
        section = self.metrics.get(stage) if isinstance(self.metrics.get(stage), dict) else {}
        v = section.get(key, self.metrics.get(key))
        if isinstance(v, str):  # metrics.json writes non-finite values as "nan"/"inf"
            try:
                return float(v)
            except ValueError:
                return None
        return float(v) if isinstance(v, (int, float)) else None

    def record_for(self, key: str) -> dict[str, Any] | None:
        """The latest generation record that measured ``key`` (its protocol), else None."""
        found = [r for r in self.generation if key in r["values"]]
        return found[-1] if found else None


def _is_run(p: Path) -> bool:
    return (
        (p / ".hydra").is_dir() or (p / "metrics.json").is_file() or (p / "failed.json").is_file()
    )


def discover(paths: list[str]) -> list[Path]:
    """Run folders named by ``paths``: run folders, globs, multirun folders or any folder above runs.

    Raises ``ConfigError`` naming the argument when one matches no run folder.
    """
    found: list[Path] = []
    for arg in paths:
        matches = [Path(m) for m in sorted(glob.glob(arg))] or [Path(arg)]
        hits: list[Path] = []
        for m in matches:
            if not m.is_dir():
                continue
            if _is_run(m):
                hits.append(m)
                continue
            for marker in sorted(m.rglob(".hydra")):
                if marker.is_dir() and "checkpoints" not in marker.parts:
                    hits.append(marker.parent)
        if not hits:
            raise ConfigError(
                f"compare: {arg!r} holds no run folder (a folder with .hydra/ or metrics.json); "
                "pass run folders, a glob such as 'runs/vae_mnist/*', or a multirun folder"
            )
        found += hits
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def read_curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Every column of a Lightning ``metrics.csv`` as ``(step, value)`` pairs (empty cells skipped)."""
    curves: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return curves
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row.get("step") or 0))
            for k, v in row.items():
                if k in ("step", "epoch") or v in ("", None):
                    continue
                try:
                    x = float(v)
                except ValueError:
                    continue
                if math.isfinite(x):
                    curves.setdefault(k, []).append((step, x))
    return curves


def latest_images(folder: Path) -> dict[str, Path]:
    """The newest grid of each kind in ``images/`` (``samples_epoch003.png`` -> kind ``samples``)."""
    kinds: dict[str, Path] = {}
    for f in sorted(folder.glob("*.png")) if folder.is_dir() else []:
        kind = re.sub(r"_(epoch|step)\d+$", "", f.stem)
        kinds[kind] = f  # sorted: the last one is the latest epoch
    return kinds


def read_error(path: Path) -> str | None:
    """The error of a failed run (``failed.json``), or a note when it has no metrics at all."""
    failed = path / "failed.json"
    if failed.is_file():
        data = json.loads(failed.read_text())
        return f"{data.get('type', 'Error')}: {data.get('error', '?')}"
    if not (path / "metrics.json").is_file():
        return "no metrics.json (the run did not finish a validation; see its train.log)"
    return None


def read_run(path: Path, root: Path | None = None) -> Run:
    """Read one run folder (missing files are simply absent, never invented)."""
    hydra_cfg = _read_yaml(path / ".hydra" / "hydra.yaml") or {}
    choices = ((hydra_cfg.get("hydra") or {}).get("runtime") or {}).get("choices") or {}
    label = str(path.relative_to(root)) if root and path.is_relative_to(root) else path.name
    gen_file = path / "generation_metrics.jsonl"
    records = []
    if gen_file.is_file():
        for line in gen_file.read_text().splitlines():
            if line.strip():
                records.append(normalize_record(json.loads(line)))
    probe = path / "benchmark_probe.json"
    return Run(
        path=path,
        label=label,
        config=_read_yaml(path / "config.yaml")
        or _read_yaml(path / ".hydra" / "config.yaml")
        or {},
        choices={k: v for k, v in choices.items() if isinstance(v, str)},
        overrides=_read_yaml(path / ".hydra" / "overrides.yaml") or [],
        metrics=json.loads((path / "metrics.json").read_text())
        if (path / "metrics.json").is_file()
        else {},
        curves=read_curves(path / "csv" / "metrics.csv"),
        generation=records,
        images=latest_images(path / "images"),
        probe=json.loads(probe.read_text()) if probe.is_file() else {},
        error=read_error(path),
    )


def load_runs(paths: list[str]) -> list[Run]:
    """Discover and read the runs named by ``paths`` (labels relative to their common folder)."""
    dirs = discover(paths)
    root = Path(*_common_parts(dirs)) if len(dirs) > 1 else (dirs[0].parent if dirs else None)
    return [read_run(d, root) for d in dirs]


def _common_parts(dirs: list[Path]) -> list[str]:
    parts = [d.parts for d in dirs]
    common = []
    for group in zip(*parts, strict=False):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    return common or ["/"]
