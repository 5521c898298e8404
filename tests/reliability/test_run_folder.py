"""Issue 15.4 and 9.3: a failed ``resume=`` leaves the run folder byte-identical; a new run never
overwrites a finished run folder; the run folder is printed at start and end; one checkpoint rule
(run folder -> ``checkpoints/last.ckpt``) for sample, evaluate, analyze and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from lightning_gen.checkpoints import read_checkpoint
from lightning_gen.commands.train import main

SMALL = [
    "debug=smoke",
    "data=digits",
    "model=vae",
    "model.widths=[8,16]",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "callbacks.image_grids=null",
    "test=false",
]


def lgen_train(monkeypatch, *args: str) -> int:
    """``lgen train <args>`` in this process; its exit code."""
    monkeypatch.setattr("sys.argv", ["lgen train", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    mp = pytest.MonkeyPatch()
    try:
        assert lgen_train(mp, *SMALL, f"hydra.run.dir={run}") == 0
    finally:
        mp.undo()
    return run


def test_run_folder_is_printed_at_start_and_end(finished, monkeypatch, capsys, tmp_path):
    run = tmp_path / "new"
    assert lgen_train(monkeypatch, *SMALL, f"hydra.run.dir={run}") == 0
    out = capsys.readouterr().out
    assert f"starting run folder {run.resolve()}" in out
    assert f"finished run folder {run.resolve()}" in out


def test_failed_resume_leaves_every_file_byte_identical(finished, monkeypatch, capsys):
    before = snapshot(finished)
    assert ".hydra/overrides.yaml" in before and "train.log" in before
    for bad in (["model.latent_dim=8"], ["model.no_such_key=1"]):  # checkpoint / Hydra error
        assert lgen_train(monkeypatch, f"resume={finished}", *bad) != 0
        assert snapshot(finished) == before, bad
    assert "latent_dim: checkpoint=16 config=8" in capsys.readouterr().err
    # the plain resume still works afterwards (the bad override did not poison the folder)
    assert lgen_train(monkeypatch, f"resume={finished}") == 0
    assert f"resuming from checkpoint {finished / 'checkpoints' / 'last.ckpt'}" in (
        capsys.readouterr().out
    )


def test_new_run_in_a_finished_run_folder_is_refused(finished, monkeypatch, capsys):
    before = snapshot(finished)
    assert lgen_train(monkeypatch, *SMALL, f"hydra.run.dir={finished}") == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and f"resume={finished}" in err
    assert snapshot(finished) == before


def test_one_checkpoint_rule_for_sample_evaluate_analyze_and_resume(
    finished, tmp_path, monkeypatch, capsys
):
    """best.ckpt and last.ckpt differ here; every command given the run folder uses last.ckpt."""
    from lightning_gen.commands.analyze import analyze
    from lightning_gen.commands.evaluate import load_generator
    from lightning_gen.commands.sample import sample
    from lightning_gen.reliability.run_dir import resume_checkpoint

    last = finished / "checkpoints" / "last.ckpt"
    best = read_checkpoint(finished / "checkpoints" / "best.ckpt")
    best["global_step"] = 1  # make the two distinguishable
    torch.save(best, finished / "checkpoints" / "best.ckpt")
    step = read_checkpoint(last)["global_step"]
    expected = f"using checkpoint {last} (global_step {step}"

    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        s_cfg = compose("sample", overrides=[f"ckpt={finished}", "n=2", f"out_dir={tmp_path}/s"])
        a_cfg = compose(
            "analyze",
            overrides=[
                f"ckpt={finished}",
                "tasks=[compression]",
                "max_images=16",
                f"paths.output_dir={tmp_path}/a",
            ],
        )
    capsys.readouterr()
    sample(s_cfg)
    assert expected in capsys.readouterr().out
    load_generator(str(finished))  # what `lgen evaluate checkpoint=<run>` loads
    assert expected in capsys.readouterr().out
    record = analyze(a_cfg)
    assert record["checkpoint"] == str(last) and expected in capsys.readouterr().out
    assert resume_checkpoint(str(finished)) == last
