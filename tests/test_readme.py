"""The README's test command is what CI runs, after the linters."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ci_command_lines():
    return [
        ln
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln and not ln.startswith(("#", "set ", "cd "))
    ]


def test_ci_runs_the_readme_test_command_verbatim():
    lines = _ci_command_lines()
    test_command = lines[-1]
    assert f"\n{test_command}\n" in (ROOT / "README.md").read_text()
    assert "pytest" in test_command and "constraints.txt" in test_command


def test_ci_runs_only_setup_and_linters_before_the_tests():
    setup, browser, *linters, _ = _ci_command_lines()
    assert "pip install" in setup and "constraints.txt" in setup
    # the browser test's Chromium, installed only when missing
    assert browser.startswith("command -v chromium >/dev/null ||") and "apt-get install" in browser
    assert linters == ["ruff check .", "ruff format --check ."]


def test_every_test_named_in_the_failure_section_exists():
    """README's "Failure behaviour" names a test per promise; each must exist."""
    import ast
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Failure behaviour", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`((?:\w+/)?test_\w+\.py)::(test_\w+)`", section)  # path below tests/
    assert len(named) >= 15
    for file, name in named:
        tree = ast.parse((ROOT / "tests" / file).read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert name in defined, f"README names {file}::{name}, which does not exist"
