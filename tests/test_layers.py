"""No module imports from a floor above its own (DESIGN.md "One home per concept").

Every import in the package (also those inside functions) is read with ``ast`` and checked
against the floors below, lowest first. A module may import from its own floor and any floor
beneath it; a shared helper that two floors need lives on the lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lightning_gen

PACKAGE = Path(lightning_gen.__file__).parent
CONFIGS = Path(lightning_gen.__file__).parent.parent / "configs"

# lowest first: each entry is a subpackage or a top-level module of lightning_gen
FLOORS: list[tuple[str, set[str]]] = [
    # contracts and the helpers that call through them, errors, files, images, checkpoints
    (
        "base",
        {
            "__init__",
            "errors",
            "fileio",
            "images",
            "contracts",
            "config_check",
            "checkpoints",
            "loggers",
            "rng",
            "validate",
        },
    ),
    ("networks", {"networks"}),  # nn.Modules, no Lightning
    ("data", {"data", "text"}),
    ("metrics", {"metrics"}),
    ("families", {"autoencoder", "vae", "gan", "diffusion", "vqvae", "transformer"}),
    ("analysis", {"analysis"}),  # what one can do with a trained autoencoder
    ("callbacks", {"callbacks"}),  # observe training, may use analysis and metrics
    ("reliability", {"reliability", "strategies"}),  # run folder, resume, signals, checkpoint I/O
    ("reports", {"compare"}),  # reads finished run folders: lgen compare / benchmark
    ("app", {"instantiate", "cli_errors", "commands", "configs"}),  # wiring and entry points
]
FLOOR_OF = {unit: i for i, (_, units) in enumerate(FLOORS) for unit in units}


def unit_of(module: str) -> str:
    """``lightning_gen.metrics.scorer`` -> ``metrics``; ``lightning_gen.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def package_modules() -> dict[str, Path]:
    files = {
        p: "lightning_gen." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for p in PACKAGE.rglob("*.py")
    }
    files.update({p: "lightning_gen.configs" for p in CONFIGS.glob("*.py")})
    return {name.removesuffix(".__init__"): path for path, name in files.items()}


def imported(path: Path, module: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``lightning_gen`` import in a file (relative ones resolved)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                pkg = module.split(".")[: None if path.stem == "__init__" else -1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            names = [f"{base}.{a.name}" for a in node.names] if base == "lightning_gen" else [base]
            out += [(node.lineno, n) for n in names]
    return [(line, m) for line, m in out if m == "lightning_gen" or m.startswith("lightning_gen.")]


def test_every_module_has_a_floor():
    units = {unit_of(m) for m in package_modules()}
    assert units <= set(FLOOR_OF), f"place these in FLOORS: {sorted(units - set(FLOOR_OF))}"


def test_no_module_imports_from_a_floor_above():
    upward = []
    for module, path in sorted(package_modules().items()):
        here = FLOOR_OF[unit_of(module)]
        for line, target in imported(path, module):
            there = FLOOR_OF.get(unit_of(target))
            if there is not None and there > here:
                upward.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line} ({FLOORS[here][0]}) imports "
                    f"{target} ({FLOORS[there][0]})"
                )
    assert not upward, "imports from a floor above:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: an import inside a function from a higher floor is found."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from lightning_gen.callbacks.common import PeriodicWriter\n")
    assert imported(f, "lightning_gen.metrics.m") == [(2, "lightning_gen.callbacks.common")]
    assert FLOOR_OF["callbacks"] > FLOOR_OF[unit_of("lightning_gen.metrics.m")]


def test_tests_mirror_the_package():
    """``tests/<name>/`` exists only for a subpackage ``lightning_gen/<name>/`` (or the ``configs/``
    tree); shared test code lives in ``tests/helpers/``; top-level tests cover top-level modules
    and project-wide checks."""
    tests = Path(__file__).parent
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")} | {"configs"}
    for folder in tests.iterdir():
        if folder.is_dir() and folder.name not in ("__pycache__", "helpers"):
            assert folder.name in subpackages, f"tests/{folder.name}/ mirrors no package folder"
            assert (folder / "__init__.py").exists(), f"tests/{folder.name}/__init__.py is missing"
    assert not [p for p in (tests / "helpers").glob("test_*.py")], "helpers hold no tests"
    top = {p.name for p in tests.glob("*.py")} - {"__init__.py", "conftest.py"}
    for name in top:
        assert name.startswith("test_"), f"tests/{name} is shared code: move it to tests/helpers/"
        for sub in subpackages:
            assert not name.startswith(f"test_{sub}_"), f"tests/{name} belongs in tests/{sub}/"
