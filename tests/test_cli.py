"""The ``lgen`` command as a user runs it: errors are one clear message, no traceback wall."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lightning_gen.cli import main as lgen_main


def run_lgen(*args: str, root, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "LGEN_ROOT": str(root), "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "lightning_gen.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


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
        ("model=nope", ["Could not find 'model/nope'", "Available options in 'model'", "autoencoder"]),
        # unknown key
        ("trainer.max_epoch=3", ["trainer.max_epoch", "not in struct"]),
        # wrong type: our signature check names key, target and expected type
        ("trainer.max_epochs=abc", ["error: trainer.max_epochs='abc' is not valid", "expects int | None"]),
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
