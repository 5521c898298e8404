"""How ``ExactDDPStrategy`` starts the other ranks of a job, inside and outside a Hydra sweep.

The end-to-end promise (a real 2-process DDP sweep) is ``tests/commands/test_train_ddp_sweep.py``
(``-m slow``); these fast tests run Hydra's own multirun in-process with the project's config tree.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import hydra
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.fabric.plugins.environments import LightningEnvironment
from omegaconf import DictConfig

from lightning_gen import strategies
from lightning_gen.strategies import LAUNCH_ENV, JobLauncher, hydra_rank_command, rank_command_args

SWEEP = [
    "experiment=vae_mnist",
    "data=digits",
    "trainer=ddp",
    "trainer.devices=2",
    "trainer.accelerator=cpu",
    "hydra/job_logging=none",  # a Hydra setting that is not the sweep's: kept for the ranks
    "hydra/hydra_logging=none",
    "seed=0,1",
]


def _run_hydra(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Run Hydra's main in-process on the train config; what each job saw (no training)."""
    seen: list[dict] = []

    @hydra.main(config_path="pkg://lightning_gen.configs", config_name="train", version_base="1.3")
    def app(cfg: DictConfig) -> None:
        hc = HydraConfig.get()
        command, cwd = hydra_rank_command(1)
        seen.append(
            {
                "mode": hc.mode,
                "dir": Path(hc.runtime.output_dir).resolve(),
                "seed": cfg.seed,
                "command": command,
            }
        )

    monkeypatch.setattr(sys, "argv", ["train.py", *argv])
    try:
        app()
    finally:
        HydraConfig.instance().cfg = None  # type: ignore[assignment]
        GlobalHydra.instance().clear()
    return seen


def test_rank_one_of_a_sweep_job_reruns_that_job_in_its_folder(tmp_path, monkeypatch):
    """The command Lightning would run for rank 1 of each job: no ``-m``, the job's own seed, its
    folder; run through Hydra it is one run in that folder and makes no folder of its own."""
    monkeypatch.setenv("LGEN_ROOT", str(tmp_path))
    jobs = _run_hydra(["-m", *SWEEP], monkeypatch)
    assert [j["seed"] for j in jobs] == [0, 1] and all(j["mode"] == RunMode.MULTIRUN for j in jobs)
    (sweep_dir,) = (tmp_path / "runs" / "multirun").iterdir()
    assert sorted(j["dir"] for j in jobs) == sorted(
        p.resolve() for p in sweep_dir.iterdir() if p.is_dir()
    )
    folders = sorted(p for p in tmp_path.rglob("*") if p.is_dir())

    for job in jobs:
        command = job["command"]  # python -m <module> ... or python <script> ...
        args = command[3:] if command[1] == "-m" else command[2:]
        assert "-m" not in args and "--multirun" not in args, args
        assert "seed=0,1" not in args and f"seed={job['seed']}" in args
        assert f'hydra.run.dir="{job["dir"]}"' in args
        assert "hydra/job_logging=none" in args and not any(
            a.startswith("hydra.mode") for a in args
        )
        (rank1,) = _run_hydra(args, monkeypatch)  # what the child process's Hydra makes of it
        assert rank1["mode"] == RunMode.RUN
        assert rank1["dir"] == job["dir"] and rank1["seed"] == job["seed"]

    assert sorted(p for p in tmp_path.rglob("*") if p.is_dir()) == folders  # nothing new


def test_rank_command_of_a_single_run_and_of_config_options():
    args = rank_command_args(
        ["--config-dir", "/my/configs", "-m", "seed=0,1", "hydra.sweep.dir=/s"],
        task_overrides=["seed=1", "+extra=2"],
        hydra_overrides=[
            "hydra.mode=MULTIRUN",
            "hydra/launcher=local",
            "hydra.launcher.timeout_min=5",
            "hydra.sweep.dir=/s",
            "hydra.verbose=true",
        ],
        job_dir="/runs/multirun/t/1_vae_mnist",
        local_rank=3,
    )
    assert args == [
        "--config-dir=/my/configs",
        "hydra.verbose=true",
        "seed=1",
        "+extra=2",
        'hydra.run.dir="/runs/multirun/t/1_vae_mnist"',
        "hydra.job.name=train_ddp_process_3",
        "hydra.output_subdir=null",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_end_job_leaves_the_process_ready_to_launch_the_next_job(tmp_path, monkeypatch):
    """After a job, the next one of the sweep must start its own ranks: Lightning takes a set
    ``LOCAL_RANK`` for "launched from outside" and reuses a live process group."""
    for key in LAUNCH_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # set before the job: kept as it was
    out = tmp_path / "child.txt"
    child = [
        sys.executable,
        "-c",
        f"import os; open({str(out)!r}, 'w').write(os.environ['LOCAL_RANK'])",
    ]
    monkeypatch.setattr(strategies, "_basic_subprocess_cmd", lambda: child)
    launcher = JobLauncher(LightningEnvironment(), num_processes=2, num_nodes=1)
    launcher._call_children_scripts()
    assert os.environ["LOCAL_RANK"] == "0" and os.environ["WORLD_SIZE"] == "2"
    assert LightningEnvironment().creates_processes_externally  # what the next job would see
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )

    launcher.end_job()
    assert out.read_text() == "1" and all(p.returncode == 0 for p in launcher.procs)
    assert not torch.distributed.is_initialized()
    assert [k for k in LAUNCH_ENV if k in os.environ] == ["MASTER_ADDR"]
    assert os.environ["MASTER_ADDR"] == "127.0.0.1"
    assert not LightningEnvironment().creates_processes_externally
    launcher.end_job()  # twice: nothing left to do
