"""The ``lgen`` command as a user runs it: errors are one clear message, no traceback wall."""

from __future__ import annotations

import pytest

from lightning_gen.commands.cli import main as lgen_main
from tests.helpers.cli import run_lgen


def test_unknown_command_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as e:
        lgen_main(["trian"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown command 'trian'" in err and "train" in err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        lgen_main(["--help"])
    assert e.value.code == 0 and "lgen train" in capsys.readouterr().out


@pytest.mark.parametrize(
    "override, expected",
    [
        # unknown group option: Hydra names the group and lists the valid options
        (
            "model=nope",
            ["Could not find 'model/nope'", "Available options in 'model'", "autoencoder"],
        ),
        # unknown key
        ("trainer.max_epoch=3", ["trainer.max_epoch", "not in struct"]),
        # wrong type: our signature check names key, target and expected type
        (
            "trainer.max_epochs=abc",
            ["error: trainer.max_epochs='abc' is not valid", "expects int | None"],
        ),
        # a value the data cannot satisfy
        ("data.batch_size=100000", ["data.batch_size=100000 is larger than the training split"]),
    ],
)
def test_wrong_overrides_exit_nonzero_with_a_clear_message(override, expected, tmp_path):
    r = run_lgen("train", override, "debug=smoke", root=tmp_path)
    assert r.returncode != 0
    for text in expected:
        assert text in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr, r.stderr[-2000:]


def test_ddp_with_two_cpu_processes_through_the_cli(tmp_path):
    """Lightning's launcher re-runs the command for rank 1: both ranks share one run folder."""
    r = run_lgen(
        "train",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "debug=smoke",
        root=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [p for p in (tmp_path / "runs" / "autoencoder_mnist").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs  # rank 1 wrote into rank 0's folder, not a new timestamped one
    import json

    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert (
        metrics["global_step"] == 3
        and "val/psnr" in metrics["val"]
        and "test/psnr" in metrics["test"]
    )
    assert (runs[0] / "checkpoints" / "last.ckpt").exists()
