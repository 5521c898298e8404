"""``resume=`` command-line plumbing (``lightning_gen.reliability.resume``), out of ``train.py``,
which keeps no module state (the folder ``main`` locked is handed to the app it builds)."""

from __future__ import annotations

from pathlib import Path

import lightning_gen.commands.train as train_module
from lightning_gen.reliability.resume import fixed_run_dir, with_resume_run_dir


def fake_run(tmp_path: Path, overrides: list[str]) -> Path:
    run = tmp_path / "runs" / "x" / "t0"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    return run


def test_resume_puts_the_runs_own_overrides_first_and_fixes_the_folder(tmp_path):
    run = fake_run(tmp_path, ["experiment=vae_mnist", "trainer.max_epochs=3", "+callbacks.x.a=1"])
    argv = with_resume_run_dir([f"resume={run}", "trainer.max_epochs=5", "~callbacks.x"])
    assert argv == [
        "experiment=vae_mnist",
        "+callbacks.x.a=1",  # a deletion given now keeps the addition it deletes
        f"resume={run}",
        "trainer.max_epochs=5",  # given again: replaces the original
        "~callbacks.x",
        f"hydra.run.dir={run.resolve()}",
    ]
    ckpt = run / "checkpoints" / "last.ckpt"
    assert with_resume_run_dir([f"resume={ckpt}"])[-1] == f"hydra.run.dir={run.resolve()}"


def test_other_command_lines_are_left_alone(tmp_path):
    for argv in (
        ["model=vae"],
        ["resume=null"],
        ["resume=x", "hydra.run.dir=y"],
        ["-m", "resume=x"],
    ):
        assert with_resume_run_dir(argv) == argv
    assert fixed_run_dir(['hydra.run.dir="/a b/c"']) == Path("/a b/c")
    assert fixed_run_dir(["hydra.run.dir=${paths.root_dir}/x"]) is None


def test_train_keeps_no_module_state():
    """No module-level variable carries the folder ``main`` locked to ``train``."""
    assert not [
        n for n, v in vars(train_module).items() if n.startswith("_") and isinstance(v, Path | None)
    ]
