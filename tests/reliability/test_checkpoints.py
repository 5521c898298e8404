"""Checkpoints: atomic writes (crash / disk full mid-save keep the old file), weights_only reads,
clear errors for truncated, foreign-family, other-config and untrusted files; divergence keeps the
last good checkpoint; run-folder lock; non-writable output folder; resumable loader and RNG state.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_module

from lightning_gen.autoencoder.module import Autoencoder
from lightning_gen.callbacks.divergence import DivergenceError
from lightning_gen.commands.train import train
from lightning_gen.data.resumable import ResumableDataLoader
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.reliability.checkpoint_io import atomic_torch_save, load_checkpoint
from lightning_gen.reliability.compat import check_compatible
from lightning_gen.reliability.run_dir import RunLock
from lightning_gen.reliability.state import collect_rng, restore_rng

SMALL = [
    "debug=smoke",
    "data=digits",
    "model.widths=[8,16]",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "callbacks.last_checkpoint.every_n_train_batches=2",
    "callbacks.image_grids=null",
    "callbacks.reconstruction_metrics=null",
    "test=false",
    "name=rel",
]


def run(out: Path, *overrides: str) -> dict[str, float]:
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose("train", overrides=[*SMALL, *overrides, f"paths.output_dir={out}"])
    return train(cfg)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A 2-epoch autoencoder run (6 steps) on 16x16 digits."""
    out = tmp_path_factory.mktemp("ae") / "run"
    run(out)
    return out


# -- atomic writes ---------------------------------------------------------------------------------
def _failing_save(fail_with: BaseException):
    real = torch.save

    def save(obj, f, *args, **kwargs):
        real(obj, f, *args, **kwargs)  # the bytes reach the temp file, then the "disk" fails
        raise fail_with

    return save


@pytest.mark.parametrize(
    "exc, err",
    [
        (OSError(errno.ENOSPC, "No space left on device"), CheckpointError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_failed_save_keeps_previous_file_and_leaves_no_temp(exc, err, tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"state_dict": {"w": torch.ones(3)}}, target)
    before = target.read_bytes()
    monkeypatch.setattr(torch, "save", _failing_save(exc))
    with pytest.raises(err, match="disk full while saving" if err is CheckpointError else None):
        atomic_torch_save({"state_dict": {"w": torch.zeros(3)}}, target)
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "last.ckpt"
    ]
    assert torch.equal(load_checkpoint(target)["state_dict"]["w"], torch.ones(3))


def test_disk_full_during_training_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(obj.get("global_step") if isinstance(obj, dict) else None)
        if len(calls) > 2:  # the third checkpoint write hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "run"
    with pytest.raises(
        CheckpointError,
        match=r"disk full while saving .*\.ckpt: the previous checkpoint there is kept",
    ):
        run(out)
    ckpt = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] in (2, 3) and all(
        torch.isfinite(t).all() for t in ckpt["state_dict"].values()
    )
    assert not list((out / "checkpoints").glob(".*.tmp"))


# -- safe loading and clear errors -----------------------------------------------------------------
def test_truncated_empty_and_untrusted_files_are_refused(finished_run, tmp_path):
    good = finished_run / "checkpoints" / "last.ckpt"
    data = good.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.ckpt")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_checkpoint(tmp_path / "empty.ckpt")
    torch.save(
        {"state_dict": {}, "payload": Path("/etc/passwd")}, tmp_path / "evil.ckpt"
    )  # an arbitrary class
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(tmp_path / "evil.ckpt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a Lightning checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_checkpoint_records_family_and_rng(finished_run):
    ckpt = load_checkpoint(finished_run / "checkpoints" / "last.ckpt")  # weights_only=True
    assert ckpt["lgen"]["model_class"] == "lightning_gen.autoencoder.module.Autoencoder"
    assert (
        ckpt["lgen"]["rng"]["torch"].dtype == torch.uint8
        and len(ckpt["lgen"]["rng"]["python"][1]) == 625
    )
    assert ckpt["global_step"] == 6


def test_resume_errors_name_what_differs(finished_run, tmp_path):
    saved = {
        p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file() and p.name != ".lock"
    }
    with pytest.raises(
        CheckpointError,
        match=r"another family: it holds lightning_gen\.autoencoder\.module\.Autoencoder, this config builds lightning_gen\.vae\.module\.VAE",
    ):
        run(
            finished_run, "model=vae", "model.widths=[8,16]", f"resume={finished_run}"
        )  # in place, as the CLI does
    assert {p: p.read_bytes() for p in saved} == saved  # nothing already saved was touched
    with pytest.raises(CheckpointError, match=r"latent_dim: checkpoint=16 config=8"):
        run(tmp_path / "b", "model.latent_dim=8", f"resume={finished_run}")
    cut = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    cut.parent.mkdir(parents=True)
    cut.write_bytes((finished_run / "checkpoints" / "last.ckpt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        run(tmp_path / "c", f"resume={cut.parent.parent}")
    with pytest.raises(CheckpointError, match=r"resume=.*nowhere: no such file"):
        run(tmp_path / "d", f"resume={tmp_path / 'nowhere'}")


def test_shape_mismatch_without_metadata_is_named(finished_run):
    ckpt = load_checkpoint(finished_run / "checkpoints" / "last.ckpt")
    del ckpt["lgen"]
    ckpt["hyper_parameters"] = dict(
        Autoencoder(image_shape=[1, 16, 16], widths=[8, 16], latent_dim=4).hparams
    )
    model = Autoencoder(image_shape=[1, 16, 16], widths=[8, 16], latent_dim=4)
    with pytest.raises(
        CheckpointError, match=r"does not fit this model's parameters: .*\(4, \d+\)"
    ):
        check_compatible(ckpt, model, "x.ckpt")


# -- divergence ------------------------------------------------------------------------------------
class PoisonAtStep(L.Callback):
    """Set every weight to NaN before the batch that makes ``global_step`` reach ``step + 1``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                for p in pl_module.parameters():
                    p.fill_(float("nan"))


def test_divergence_names_step_and_keeps_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    poison = [f"+callbacks.poison._target_={__name__}.PoisonAtStep", "+callbacks.poison.step=4"]
    with pytest.raises(
        DivergenceError,
        match=r"diverged at step 5 \(epoch 1\): train/loss=nan; last good checkpoint kept: .*last\.ckpt.*\(trainer\.gradient_clip_val=1\.0\)",
    ):
        run(out, *poison)
    ckpt = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 4 and all(
        torch.isfinite(t).all() for t in ckpt["state_dict"].values()
    )


# -- run folder ------------------------------------------------------------------------------------
def test_second_run_in_same_folder_is_refused_without_touching_it(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("first run\n")
    with RunLock(out):
        with pytest.raises(ConfigError, match=r"is in use by another run \(pid \d+\)"):
            run(out)
    assert (out / "config.yaml").read_text() == "first run\n" and not (out / "checkpoints").exists()
    with RunLock(out):  # released: a later run (or a resume) may take it
        pass


def test_non_writable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"output folder .* is not writable .*LGEN_ROOT"):
        run(blocker / "run")
    if shutil.os.geteuid() != 0:  # permissions do not bind root
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ConfigError, match="is not writable"):
            run(ro / "run")


# -- resumable loader and RNG ----------------------------------------------------------------------
def test_loader_order_depends_on_seed_and_epoch_and_resumes_mid_epoch():
    ds = torch.utils.data.TensorDataset(torch.arange(20))
    loader = ResumableDataLoader(ds, seed=3, batch_size=4)
    torch.manual_seed(0)
    full = [b[0].tolist() for b in loader]
    torch.manual_seed(99)  # the global RNG does not matter
    assert [b[0].tolist() for b in loader] == full and sorted(sum(full, [])) == list(range(20))
    loader.sampler.set_epoch(1)
    assert [b[0].tolist() for b in loader] != full
    resumed = ResumableDataLoader(ds, seed=3, batch_size=4)
    resumed.load_state_dict({"epoch": 0, "consumed": 2})
    assert [b[0].tolist() for b in resumed] == full[2:]
    resumed.consumed, resumed.epoch_batches = 5, 5
    assert resumed.state_dict() == {
        "epoch": 1,
        "consumed": 0,
    }  # a finished epoch resumes at the next


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    import random

    import numpy as np

    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    atomic_torch_save({"state_dict": {}, "rng": collect_rng()}, tmp_path / "r.ckpt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(load_checkpoint(tmp_path / "r.ckpt")["rng"])
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(
        np.random.rand(3), expected[1]
    )
    assert random.random() == expected[2]


def test_slurm_requeue_calls_scontrol_with_the_job_id(tmp_path, monkeypatch):
    from lightning_gen.reliability.signals import slurm_requeue

    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_requeue() is None  # not under SLURM: nothing to requeue
    fake = tmp_path / "bin" / "scontrol"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/called\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{shutil.os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert slurm_requeue() == 0 and (tmp_path / "called").read_text().strip() == "requeue 4242"


class ManualNaN(L.LightningModule):
    """Manual optimisation (like the GANs): returns nothing, logs ``train/g_loss`` = NaN once ``global_step``
    (counted after this batch's ``opt.step()``) reaches ``bad_step``."""

    def __init__(self, bad_step: int = 2) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = torch.nn.Linear(2, 1)
        self.bad_step = bad_step

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss = self.net(batch[0]).pow(2).mean()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        value = float("nan") if self.global_step >= self.bad_step else loss.item()
        self.log("train/g_loss", value)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_divergence_in_a_logged_metric_of_a_manual_optimisation_module(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from lightning_gen.callbacks.divergence import DivergenceGuard

    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0, every_n_train_steps=1)
    trainer = L.Trainer(
        max_steps=10,
        callbacks=[DivergenceGuard(), ckpt],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(40, 2)), batch_size=4
    )
    with pytest.raises(
        DivergenceError,
        match=r"diverged at step 2 \(epoch 0\): train/g_loss=nan; last good checkpoint kept: .*last\.ckpt.*\(model\.grad_clip=1\.0; trainer\.gradient_clip_val does not apply to GANs\)",
    ):
        trainer.fit(ManualNaN(bad_step=2), data)
    assert (
        torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 1
    )  # the step before


def test_second_lgen_train_in_a_fixed_run_dir_fails_before_hydra_writes_there(
    tmp_path, monkeypatch, capsys
):
    from lightning_gen.commands.train import main

    out = tmp_path / "run"
    out.mkdir()
    monkeypatch.setattr("sys.argv", ["lgen train", "debug=smoke", f"hydra.run.dir={out}"])
    with RunLock(out), pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2 and "is in use by another run" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        ".lock"
    ]  # no .hydra/, train.log or config.yaml


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    """Run files are readable by collaborators like any file (umask), not mkstemp's private 0600."""
    import os

    from lightning_gen.callbacks.metrics_file import write_json_atomic
    from lightning_gen.reliability.checkpoint_io import atomic_torch_save

    old = os.umask(0o022)
    try:
        atomic_torch_save({"state_dict": {}}, tmp_path / "a.ckpt")
        write_json_atomic(tmp_path / "m.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.ckpt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ckpt", "m.json"]  # no temp files left
