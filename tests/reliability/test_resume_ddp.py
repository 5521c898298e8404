"""Exact mid-epoch resume under 2-process CPU DDP (gloo): a run stopped by a signal on one rank in the
middle of an epoch and resumed with ``lgen train resume=<run>`` ends bit-identical to an
uninterrupted DDP run (weights, optimizer moments, every rank's RNG states, loop and loader
position, ``metrics.json`` and every CSV row).

The fast promise (every rank stops at one step, no hang, the resume finishes) stays in the default
suite: ``tests/reliability/test_resume.py::test_ddp_stop_signal_on_one_rank_stops_every_rank_at_one_step_then_resumes``.
"""

from __future__ import annotations

import subprocess

import lightning as L
import pytest
import torch

from lightning_gen.reliability.checkpoint_io import load_checkpoint
from tests.helpers.resume import assert_same_run
from tests.helpers.resume_cli import REPO, csv_rows, lgen_train, run_subprocess

DDP = [
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    f"+callbacks.rank_draws._target_={__name__}.RankDependentDraws",
]


class RankDependentDraws(L.Callback):
    """Draw ``rank + 1`` numbers from the global torch RNG before every train batch, so that the
    ranks' RNG streams part ways (as they do whenever ranks draw different amounts: uneven last
    batches, data-dependent sampling); an exact resume must then restore each rank's own states."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        torch.rand(trainer.global_rank + 1)


@pytest.mark.slow  # three 2-process runs: ~2 min on 2 busy CPU cores
def test_ddp_mid_epoch_stop_then_resume_is_bit_identical(tmp_path):
    ref = tmp_path / "runs" / "ref"
    done = run_subprocess(tmp_path, *DDP, f"hydra.run.dir={ref}")
    assert done.returncode == 0, done.stderr[-3000:]

    out = tmp_path / "runs" / "stopped"
    killer = [
        "+callbacks.kill._target_=tests.reliability.test_resume.SignalAtStep",
        "+callbacks.kill.step=5",  # batch 2 of 4 of epoch 1
        "+callbacks.kill.sig=SIGTERM",
        "+callbacks.kill.rank=1",
    ]
    stopped = run_subprocess(tmp_path, *DDP, *killer, f"hydra.run.dir={out}")
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    ckpt = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 5 and ckpt["epoch"] == 1  # mid-epoch
    per_rank = ckpt["lgen"]["rng_per_rank"]
    assert len(per_rank) == 2 and not torch.equal(per_rank[0]["torch"], per_rank[1]["torch"])

    cmd, env = lgen_train(tmp_path)
    cmd = [*cmd[: cmd.index("train") + 1], f"resume={out}", "~callbacks.kill"]
    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "not bit-identical" not in resumed.stderr
    assert load_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"] == 12
    assert_same_run(ref, out)  # last.ckpt and best.ckpt tensor by tensor, metrics.json, CSV rows
    assert [int(r["step"]) for r in csv_rows(out) if r["train/loss"]] == list(range(12))


class FakeTrainer:
    def __init__(self, world_size: int, global_rank: int) -> None:
        self.world_size, self.global_rank = world_size, global_rank


def test_each_rank_resumes_from_its_own_rng_states_and_a_changed_rank_count_warns():
    from lightning_gen.reliability.state import _rng_of_this_rank

    meta = {"rng": "rank0", "rng_per_rank": ["rank0", "rank1"]}
    assert _rng_of_this_rank(FakeTrainer(2, 1), meta) == "rank1"
    assert _rng_of_this_rank(FakeTrainer(1, 0), {"rng": "only"}) == "only"
    with pytest.warns(
        UserWarning, match="RNG states of 2 process.*this run has 3.*not bit-identical"
    ):
        assert _rng_of_this_rank(FakeTrainer(3, 2), meta) == "rank0"
    with pytest.warns(UserWarning, match="RNG states of 1 process.*this run has 2"):
        assert _rng_of_this_rank(FakeTrainer(2, 1), {"rng": "single"}) == "single"
