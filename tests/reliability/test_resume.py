"""Exact resume: a run killed by SIGKILL (real subprocess) or stopped by SIGTERM / SIGUSR1 / SIGINT
mid-epoch and resumed with ``resume=<run dir>`` ends with bit-identical weights, optimizer state and
metrics to an uninterrupted run; CSV logs hold each step once; EMA state survives and is swapped back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_module

from lightning_gen.commands.train import train
from lightning_gen.reliability.checkpoint_io import load_checkpoint
from lightning_gen.reliability.signals import RunInterrupted
from tests.helpers.resume_cli import COMMON, REPO, csv_rows, lgen_train, run_subprocess


class SignalAtStep(L.Callback):
    """Send ``sig`` to this process when ``global_step == step``: at the batch end (before checkpoint
    callbacks see the step) or, with ``at_start``, at the next batch start (mid-batch)."""

    def __init__(
        self, step: int, sig: str = "SIGKILL", at_start: bool = False, rank: int | None = None
    ) -> None:
        self.step, self.sig, self.at_start, self.rank = step, sig, at_start, rank

    def _maybe_send(self, trainer) -> None:
        if trainer.global_step == self.step and self.rank in (None, trainer.global_rank):
            os.kill(os.getpid(), getattr(signal, self.sig))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.at_start:
            self._maybe_send(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.at_start:
            self._maybe_send(trainer)


def run_in_process(out: Path, *overrides: str) -> dict[str, float]:
    """``lgen train`` in this process, run folder ``out``."""
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            "train", overrides=[*COMMON, *overrides, "name=rel", f"paths.output_dir={out}"]
        )
    return train(cfg)


def assert_same_run(a: Path, b: Path) -> None:
    """Final weights, optimizer state, loop counters and metrics.json of two runs are identical."""
    ca, cb = (
        load_checkpoint(a / "checkpoints" / "last.ckpt"),
        load_checkpoint(b / "checkpoints" / "last.ckpt"),
    )
    assert ca["global_step"] == cb["global_step"] == 12
    for key in ("state_dict", "current_model_state"):
        assert (key in ca) == (key in cb)
        for name, t in ca.get(key, {}).items():
            assert torch.equal(t, cb[key][name]), f"{key}.{name} differs"
    for sa, sb in zip(
        ca["optimizer_states"][0]["state"].values(),
        cb["optimizer_states"][0]["state"].values(),
        strict=True,
    ):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ma, mb = (
        json.loads((a / "metrics.json").read_text()),
        json.loads((b / "metrics.json").read_text()),
    )
    # wall-clock seconds differ; the images trained continue across the resume
    assert ma["time"].pop("time/train_seconds") > 0 and mb["time"].pop("time/train_seconds") > 0
    assert ma == mb and ma["global_step"] == 12 and ma["val"]["val/loss"] > 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    run_in_process(out)
    return out


def test_sigkill_mid_epoch_then_resume_is_bit_identical(reference, tmp_path):
    out = tmp_path / "runs" / "killed"
    killed = run_subprocess(
        tmp_path,
        "+callbacks.kill._target_=tests.reliability.test_resume.SignalAtStep",
        "+callbacks.kill.step=8",
        f"hydra.run.dir={out}",
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    ckpt = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 6 and ckpt["epoch"] == 1  # mid-epoch: batch 2 of 4 of epoch 1
    assert ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "consumed": 2}
    ]
    steps_before = [int(r["step"]) for r in csv_rows(out) if r["train/loss"]]
    assert max(steps_before) == 6  # the row of step 6 (after the checkpoint) was written, then lost

    # `resume=<run>` alone continues in the same run folder with the run's own overrides
    # (read from its .hydra/overrides.yaml); `~callbacks.kill` drops the killer added at the start
    cmd, env = lgen_train(tmp_path)
    cmd = [*cmd[: cmd.index("train") + 1], f"resume={out}", "~callbacks.kill"]
    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["killed"]
    assert_same_run(reference, out)
    train_steps = [int(r["step"]) for r in csv_rows(out) if r["train/loss"]]
    assert train_steps == list(range(12))  # every step once: no duplicate after the resume
    ref_loss = [r["train/loss"] for r in csv_rows(reference) if r["train/loss"]]
    assert [r["train/loss"] for r in csv_rows(out) if r["train/loss"]] == ref_loss


@pytest.mark.parametrize(
    "sig, step",
    # step 4: last batch of epoch 0; SIGUSR2: submitit's pre-emption signal
    [("SIGTERM", 4), ("SIGUSR1", 5), ("SIGINT", 3), ("SIGUSR2", 5)],
)
def test_stop_signal_saves_checkpoint_and_resume_is_exact(
    sig, step, reference, tmp_path, monkeypatch
):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    sigint_before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "run"
    kill = [
        f"+callbacks.kill._target_={__name__}.SignalAtStep",
        f"+callbacks.kill.step={step - 1}",
        f"+callbacks.kill.sig={sig}",
        "+callbacks.kill.at_start=true",
    ]
    with pytest.raises(RunInterrupted, match=f"stopped by {sig} at step {step}"):
        run_in_process(out, *kill)
    assert load_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == step
    assert [int(r["step"]) for r in csv_rows(out) if r["train/loss"]] == list(range(step))
    # after the run, Ctrl+C behaves as before it: the handler in force before the run is back (in
    # a full fresh-clone suite run it was not Python's default one when this test started, so the
    # KeyboardInterrupt check applies only when it was)
    assert signal.getsignal(signal.SIGINT) == sigint_before
    if sigint_before is signal.default_int_handler:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    run_in_process(out, f"resume={out}")
    assert_same_run(reference, out)
    assert csv_rows(out) == csv_rows(reference)  # same rows, each step once


class SwapProbe(L.Callback):
    """Records whether EMA weights were in place during validation and gone before training continued."""

    def __init__(self) -> None:
        self.before: list[torch.Tensor] | None = None
        self.swapped_in: list[bool] = []
        self.swapped_back: list[bool] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:  # runs before EMA swaps in
        if not trainer.sanity_checking:
            self.before = [p.detach().clone() for p in pl_module.parameters()]

    def on_validation_epoch_end(self, trainer, pl_module) -> None:  # runs before EMA swaps back
        if self.before is not None:
            self.swapped_in.append(
                any(
                    not torch.equal(a, p)
                    for a, p in zip(self.before, pl_module.parameters(), strict=True)
                )
            )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.before is not None:
            self.swapped_back.append(
                all(
                    torch.equal(a, p)
                    for a, p in zip(self.before, pl_module.parameters(), strict=True)
                )
            )
            self.before = None


def test_ema_is_swapped_back_and_survives_resume(tmp_path):
    probe = SwapProbe()
    import lightning_gen.commands.train as train_module

    real = train_module.instantiate_group
    monkey = pytest.MonkeyPatch()
    monkey.setattr(
        train_module,
        "instantiate_group",
        lambda g, *name: (
            [probe, *real(g, *name)] if g is not None and "ema" in g else real(g, *name)
        ),
    )
    try:
        ref = tmp_path / "ref"
        run_in_process(ref, "ema=default")
    finally:
        monkey.undo()
    assert (
        probe.swapped_in == [True] * 3 and probe.swapped_back == [True] * 2
    )  # 3 validations, 2 followed by training
    assert "current_model_state" in load_checkpoint(
        ref / "checkpoints" / "last.ckpt"
    )  # EMA and raw weights stored

    out = tmp_path / "run"
    kill = [
        f"+callbacks.kill._target_={__name__}.SignalAtStep",
        "+callbacks.kill.step=4",
        "+callbacks.kill.sig=SIGTERM",
        "+callbacks.kill.at_start=true",
    ]
    with pytest.raises(RunInterrupted):
        run_in_process(out, "ema=default", *kill)
    run_in_process(out, "ema=default", f"resume={out}")
    assert_same_run(ref, out)


@pytest.mark.slow
def test_external_sigterm_to_lgen_train_exits_143_with_a_resumable_checkpoint(tmp_path):
    out = tmp_path / "runs" / "run"
    cmd, env = lgen_train(tmp_path, "trainer.max_epochs=50", f"hydra.run.dir={out}")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while (
        not (out / "checkpoints" / "last.ckpt").exists()
        and time.monotonic() < deadline
        and proc.poll() is None
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, err[-2000:]
    line = next(x for x in err.splitlines() if x.startswith("stopped:"))
    step = int(line.split(" at step ")[1].split(";")[0])
    assert (
        f"resume={out}" in line
        and load_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == step
    )


@pytest.mark.slow
def test_resume_continues_the_same_wandb_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "run"
    kill = [
        f"+callbacks.kill._target_={__name__}.SignalAtStep",
        "+callbacks.kill.step=4",
        "+callbacks.kill.sig=SIGTERM",
        "+callbacks.kill.at_start=true",
    ]
    with pytest.raises(RunInterrupted):
        run_in_process(out, "logger=wandb", *kill)
    run_id = load_checkpoint(out / "checkpoints" / "last.ckpt")["lgen"]["wandb_id"]
    run_in_process(out, "logger=wandb", f"resume={out}")
    runs = sorted(p.name for p in (out / "wandb").glob("offline-run-*"))
    assert runs and all(r.endswith(f"-{run_id}") for r in runs)  # one W&B run id, continued
    assert (out / "wandb" / "latest-run").resolve().name.endswith(f"-{run_id}")


def test_ddp_stop_signal_on_one_rank_stops_every_rank_at_one_step_then_resumes(tmp_path):
    """Only rank 1 gets SIGTERM: all ranks agree, save one checkpoint at that step and exit (no hang);
    ``resume=`` then finishes the run under DDP in the same folder."""
    out = tmp_path / "runs" / "ddp"
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
    killer = [
        "+callbacks.kill._target_=tests.reliability.test_resume.SignalAtStep",
        "+callbacks.kill.step=5",
        "+callbacks.kill.sig=SIGTERM",
        "+callbacks.kill.rank=1",
    ]
    stopped = run_subprocess(tmp_path, *ddp, *killer, f"hydra.run.dir={out}")
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "stopped: stopped by a stop signal on another rank at step 5" in stopped.stderr
    assert load_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 5

    cmd, env = lgen_train(tmp_path)
    cmd = [*cmd[: cmd.index("train") + 1], f"resume={out}", "~callbacks.kill"]
    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 12
    steps = [int(r["step"]) for r in csv_rows(out) if r["train/loss"]]
    assert steps == sorted(set(steps)) and max(steps) == 11  # no step logged twice after the resume


class RecordTestWeights(L.Callback):
    """Keep a copy of the model's weights when the test stage starts."""

    seen: dict[str, torch.Tensor] = {}

    def on_test_start(self, trainer, pl_module) -> None:
        RecordTestWeights.seen = {k: v.clone() for k, v in pl_module.state_dict().items()}


def test_ema_runs_are_tested_with_the_averaged_weights_of_the_best_checkpoint(tmp_path):
    out = tmp_path / "run"
    run_in_process(
        out,
        "ema=default",
        f"+callbacks.record._target_={__name__}.RecordTestWeights",
        "test=true",
    )
    best = load_checkpoint(out / "checkpoints" / "best.ckpt")
    averaged, raw = best["state_dict"], best["current_model_state"]
    assert any(
        not torch.equal(averaged[k], raw[k]) for k in averaged
    )  # EMA differs from the raw weights
    for k, v in averaged.items():
        assert torch.equal(RecordTestWeights.seen[k], v), (
            f"test used other weights than best.ckpt's averaged {k}"
        )
