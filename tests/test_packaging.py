"""Packaging: every subpackage is listed in pyproject.toml, and the top-level configs/ ship as
``lightning_gen.configs`` (so a wheel, not only an editable install, has them)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "lightning_gen").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    on_disk.add("lightning_gen.configs")
    assert listed == on_disk, (
        f"pyproject.toml [tool.setuptools] packages differs: {sorted(listed ^ on_disk)}"
    )
    assert setuptools["package-dir"]["lightning_gen.configs"] == "configs"


def test_configs_are_importable_as_a_package():
    import lightning_gen.configs

    here = Path(lightning_gen.configs.__file__).parent
    assert (here / "train.yaml").is_file()
    assert here.resolve() == (ROOT / "configs").resolve()
