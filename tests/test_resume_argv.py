"""``resume=`` command-line plumbing (``lightning_gen.reliability.resume``) and the re-entrant run
lock that lets ``lgen train`` lock a fixed run folder before Hydra starts, without module state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightning_gen.commands.train as train_module
from lightning_gen.reliability.resume import fixed_run_dir, with_resume_run_dir
from lightning_gen.reliability.run_dir import RunLock


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
    """The lock taken by ``main`` is found again by ``train`` through the lock itself."""
    assert not [
        n for n, v in vars(train_module).items() if n.startswith("_") and isinstance(v, Path | None)
    ]


def test_run_lock_is_reentrant_in_one_process_and_exclusive_across(tmp_path):
    probe = (
        "import sys; from lightning_gen.reliability.run_dir import RunLock\n"
        "try:\n    RunLock(sys.argv[1]).acquire()\nexcept Exception as e:\n    sys.exit(3)\n"
    )

    def other_process_can_lock() -> bool:
        proc = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], timeout=60)
        return proc.returncode == 0

    outer = RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # what train() does inside main()'s lock: no error
        pass
    assert not other_process_can_lock()  # the inner release did not drop the outer lock
    outer.release()
    assert other_process_can_lock()
