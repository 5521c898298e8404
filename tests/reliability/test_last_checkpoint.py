"""Issue 16: whatever ends training, ``last.ckpt`` holds exactly the final state, and a resume from
it continues bit-identically; the interval counts batches for every family (a GAN's global_step
counts two optimiser steps per batch); ``metrics.json`` records each checkpoint's step."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_gen.callbacks.last_checkpoint import LastCheckpoint
from lightning_gen.checkpoints import read_checkpoint
from lightning_gen.reliability.signals import RunInterrupted
from lightning_gen.rng import collect_rng
from tests.helpers.resume import assert_same_checkpoint, assert_same_logs, run_train

# 4 batches of 16 digits (16x16) per epoch; GAN: 2 optimiser steps (global_step) per batch
FAMILIES = {
    "dae": ["model=denoising_autoencoder", "model.widths=[8,16]"],
    "dcgan": [
        "model=dcgan",
        "model.g_widths=[16,8]",
        "model.d_widths=[8,16]",
        "model.latent_dim=8",
    ],
}
STEPS_PER_BATCH = {"dae": 1, "dcgan": 2}
COMMON = [
    "debug=smoke",
    "data=digits",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "callbacks.image_grids=null",
    "callbacks.last_checkpoint.every_n_train_batches=3",
    "+logger.csv.flush_logs_every_n_steps=1",
    "test=false",
]
# state that exists only while one of the stopping callbacks is configured (not training state)
STOPPERS = ("Timer", "EarlyStopping", "SignalAtStep")


class FinalState(L.Callback):
    """Copies of the weights, optimizer states, step and RNG states when training ends."""

    seen: dict = {}

    def on_train_end(self, trainer, pl_module) -> None:
        FinalState.seen = {
            "state_dict": copy.deepcopy(pl_module.state_dict()),
            "optimizers": [copy.deepcopy(o.state_dict()) for o in trainer.optimizers],
            "global_step": trainer.global_step,
            "rng": collect_rng(),
        }


def assert_final_state_saved(run: Path) -> dict:
    """``last.ckpt`` holds the weights, optimizer moments, step and RNG training ended with."""
    ckpt = read_checkpoint(run / "checkpoints" / "last.ckpt")
    final = FinalState.seen
    assert ckpt["global_step"] == final["global_step"]
    for k, v in final["state_dict"].items():
        assert torch.equal(ckpt["state_dict"][k], v), k
    for saved, live in zip(ckpt["optimizer_states"], final["optimizers"], strict=True):
        for i, state in live["state"].items():
            assert all(torch.equal(saved["state"][i][n], t) for n, t in state.items())
    assert torch.equal(ckpt["lgen"]["rng"]["torch"], final["rng"]["torch"])
    record = json.loads((run / "metrics.json").read_text())["checkpoints"]["last"]
    assert record == {"path": "checkpoints/last.ckpt", "global_step": final["global_step"]}
    return ckpt


def _drop_stoppers(run: Path) -> None:
    """Remove the stopping callbacks' own state (absent from a run that never had them)."""
    path = run / "checkpoints" / "last.ckpt"
    ckpt = read_checkpoint(path)
    ckpt["callbacks"] = {k: v for k, v in ckpt["callbacks"].items() if not k.startswith(STOPPERS)}
    torch.save(ckpt, path)


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    """One uninterrupted 2-epoch run per family."""
    out = {}
    for family, overrides in FAMILIES.items():
        out[family] = tmp_path_factory.mktemp(family) / "ref"
        run_train(out[family], *COMMON, *overrides, "trainer.max_epochs=2")
    return out


def _ending(end: str, family: str) -> list[str]:
    """Overrides that end the first run in the middle of training (epoch 0 of 2)."""
    per_batch = STEPS_PER_BATCH[family]
    return {
        "max_steps": [f"++trainer.max_steps={2 * per_batch}", "trainer.max_epochs=2"],  # mid-epoch
        "max_epochs": ["trainer.max_epochs=1"],
        # a zero time budget: the Timer stops training after the first batch (mid-epoch)
        "max_time": ["++trainer.max_time='00:00:00:00'", "trainer.max_epochs=2"],
        "early_stop": [
            "trainer.max_epochs=2",
            "+callbacks.early._target_=lightning.pytorch.callbacks.EarlyStopping",
            "+callbacks.early.monitor=val/loss",
            "+callbacks.early.stopping_threshold=1e9",  # met at the first validation
        ],
        "signal": [
            "trainer.max_epochs=2",
            "+callbacks.kill._target_=tests.reliability.test_resume.SignalAtStep",
            f"+callbacks.kill.step={per_batch}",
            "+callbacks.kill.sig=SIGTERM",
            "+callbacks.kill.at_start=true",
        ],
    }[end]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("end", ["max_steps", "max_epochs", "max_time", "early_stop", "signal"])
def test_last_checkpoint_holds_the_final_state_and_resumes_exactly(
    end, family, references, tmp_path, monkeypatch
):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    run = tmp_path / "run"
    first = [*COMMON, *FAMILIES[family], *_ending(end, family)]
    record = [f"+callbacks.final._target_={__name__}.FinalState"]
    if end == "signal":
        with pytest.raises(RunInterrupted):  # on_train_end does not run: compare with the stop step
            run_train(run, *first)
        assert (
            read_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"]
            == 2 * (STEPS_PER_BATCH[family])
        )
    else:
        run_train(run, *first, *record)
        ckpt = assert_final_state_saved(run)
        assert 0 < ckpt["global_step"] < 8 * STEPS_PER_BATCH[family]  # stopped early
    _drop_stoppers(run)
    # resume with the limit lifted: the run continues as if it had never stopped
    run_train(run, *COMMON, *FAMILIES[family], "trainer.max_epochs=2", f"resume={run}")
    assert_same_checkpoint(references[family], run)
    assert_same_logs(references[family], run)


def test_resuming_a_finished_run_changes_nothing(references, tmp_path, capsys):
    ref = references["dcgan"]
    before = {p: p.read_bytes() for p in (ref / "checkpoints").iterdir()}
    run_train(ref, *COMMON, *FAMILIES["dcgan"], "trainer.max_epochs=2", f"resume={ref}")
    out = capsys.readouterr().out
    assert f"resuming from checkpoint {ref / 'checkpoints' / 'last.ckpt'} (global_step 16" in out
    assert {p: p.read_bytes() for p in (ref / "checkpoints").iterdir()} == before


def test_gan_interval_counts_batches_not_optimizer_steps(tmp_path, monkeypatch):
    saves: list[tuple[int, int]] = []
    real = LastCheckpoint.save

    def spy(self, trainer):
        saves.append((trainer.fit_loop.epoch_loop.batch_progress.total.ready, trainer.global_step))
        real(self, trainer)

    monkeypatch.setattr(LastCheckpoint, "save", spy)
    run_train(
        tmp_path / "run",
        *COMMON,
        *FAMILIES["dcgan"],
        "trainer.limit_train_batches=5",
        "trainer.max_epochs=1",
        "callbacks.last_checkpoint.every_n_train_batches=2",
    )
    # batches 2 and 4 mid-epoch (global_step 4 and 8: two optimiser steps per batch), epoch end
    assert saves == [(2, 4), (4, 8), (5, 10)]
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["checkpoints"]
    assert record["last"] == {"path": "checkpoints/last.ckpt", "global_step": 10}
    assert record["best"] == {"path": "checkpoints/best.ckpt", "global_step": 10}
