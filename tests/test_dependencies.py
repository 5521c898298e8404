"""Every third-party import of the package is declared in pyproject.toml; optional extras are only
imported lazily; the installed (tested) versions satisfy the declared ranges (issue 14.4)."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# import name -> distribution name, for packages that may not be installed here (optional extras)
KNOWN = {"torch_fidelity": "torch-fidelity", "datasets": "datasets", "wandb": "wandb"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], dict[str, set[str]]]:
    core = {norm(Requirement(r).name) for r in PYPROJECT["dependencies"]}
    extras = {
        extra: {norm(Requirement(r).name) for r in reqs}
        for extra, reqs in PYPROJECT["optional-dependencies"].items()
    }
    return core, extras


def third_party_imports() -> dict[str, dict[str, bool]]:
    """``{import name: {file: imported at module level}}`` for every non-stdlib import."""
    found: dict[str, dict[str, bool]] = {}
    for path in (ROOT / "lightning_gen").rglob("*.py"):
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body} | {
            id(m) for n in tree.body if isinstance(n, ast.Try) for m in n.body
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                mod = name.split(".")[0]
                if mod in sys.stdlib_module_names or mod == "lightning_gen":
                    continue
                where = found.setdefault(mod, {})
                rel = str(path.relative_to(ROOT))
                where[rel] = where.get(rel, False) or id(node) in top
    return found


def distribution(mod: str) -> str:
    dists = metadata.packages_distributions().get(mod) or [KNOWN.get(mod, mod)]
    return norm(dists[0])


def test_every_direct_import_is_declared_and_extras_are_lazy():
    core, extras = declared()
    optional = set().union(*extras.values())
    problems = []
    for mod, files in sorted(third_party_imports().items()):
        dist = distribution(mod)
        if dist in core:
            continue
        if dist not in optional:
            problems.append(f"{mod} ({dist}) imported in {sorted(files)} but not declared")
        elif any(files.values()):
            eager = sorted(f for f, top in files.items() if top)
            problems.append(f"optional {mod} imported at module level in {eager}")
    assert not problems, "\n".join(problems)


def test_installed_versions_satisfy_the_declared_ranges():
    """The versions this suite runs on are inside the ranges users get (no untested range)."""
    for req in map(Requirement, PYPROJECT["dependencies"]):
        version = metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), (
            f"{req.name} {version} not in {req}"
        )


def test_lightning_and_torchmetrics_are_bounded_to_the_tested_minor():
    """Private Lightning attributes are used (docs/dependencies.md): the ranges stop at the next minor."""
    for name in ("lightning", "torchmetrics"):
        req = next(Requirement(r) for r in PYPROJECT["dependencies"] if Requirement(r).name == name)
        major, minor = map(int, metadata.version(name).split(".")[:2])
        assert not req.specifier.contains(f"{major}.{minor + 1}.0"), req
        assert req.specifier.contains(f"{major}.{minor}.0"), req
