"""``lgen train resume=<run dir | .ckpt>``: the command line that continues a run in its own folder.

Pure functions of the command line (no module state): ``with_resume_run_dir`` puts the run's
original overrides first and fixes ``hydra.run.dir`` to the run folder; ``fixed_run_dir`` names
the folder given literally, which ``lgen train`` locks before Hydra writes into it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lightning_gen.reliability.run_dir import resume_run_dir


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def original_overrides(run_dir: Path, given: list[str]) -> list[str]:
    """The overrides the run was started with (``.hydra/overrides.yaml``) that ``given`` does not set again."""
    f = run_dir / ".hydra" / "overrides.yaml"
    if not f.is_file():
        return []
    # a value set again now replaces the original (also inside a node set now); a deletion
    # (~node) given now keeps the original additions so that Hydra has something to delete
    keys = {_override_key(a) for a in given if not a.startswith("~")} | {"resume", "hydra.run.dir"}

    def overridden(key: str) -> bool:
        return any(key == k or key.startswith(k + ".") for k in keys)

    return [o for o in (yaml.safe_load(f.read_text()) or []) if not overridden(_override_key(o))]


def resume_value(argv: list[str]) -> str | None:
    """The ``resume=`` value given on the command line (None if absent or null)."""
    value = next((a.split("=", 1)[1] for a in argv if a.startswith("resume=")), None)
    return None if value in (None, "", "null") else value


def with_resume_run_dir(argv: list[str]) -> list[str]:
    """For ``resume=<run dir | ckpt>``: continue in that run folder with the run's own overrides.

    The run's original command-line overrides are applied first, so ``lgen train resume=<run>``
    alone continues the same experiment; overrides given now take precedence. Any other
    command line (no ``resume``, a fixed ``hydra.run.dir``, a multirun) is returned unchanged.
    """
    resume = resume_value(argv)
    if not resume or any(a.startswith(("hydra.run.dir=", "-m", "--multirun")) for a in argv):
        return argv
    run_dir = Path(resume_run_dir(resume)).resolve()
    return [*original_overrides(run_dir, argv), *argv, f"hydra.run.dir={run_dir}"]


def fixed_run_dir(argv: list[str]) -> Path | None:
    """The run folder given literally as ``hydra.run.dir=...`` (where two runs could meet), else None."""
    value = next((a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")), None)
    if value is None or "${" in value:
        return None
    # Lightning's DDP launcher passes hydra.run.dir="<dir>" (quoted, for Hydra's parser)
    return Path(value.strip("'\""))
