"""``lgen train -m ... trainer=ddp trainer.devices=2``: a Hydra sweep whose jobs are 2-process CPU DDP runs.

Rank 1 of each job is re-run by Lightning's launcher; it must run that job (not a sweep of its
own), in that job's folder, and the sweep's second job must launch ranks of its own. The fast
version of the promise (the rank's command through Hydra) is ``tests/test_strategies.py``.
"""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from tests.helpers.cli import run_lgen


@pytest.mark.slow  # 2 jobs x 2 processes: ~40 s on 2 busy CPU cores
def test_ddp_sweep_writes_each_job_once_into_its_own_folder(tmp_path):
    r = run_lgen(
        "train",
        "-m",
        "experiment=vae_mnist",
        "data=digits",
        "debug=smoke",
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        "seed=0,1",
        root=tmp_path,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    assert out.count("GLOBAL_RANK: 1, MEMBER: 2/2") == 2, out[-3000:]  # each job had its rank 1

    runs = tmp_path / "runs"
    (sweep,) = (runs / "multirun").iterdir()  # rank 1 started no sweep of its own
    assert sorted(p.name for p in runs.iterdir()) == ["multirun"]  # no stray run folder
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0_vae_mnist", "1_vae_mnist"]
    seeds = []
    for job in jobs:
        cfg = yaml.safe_load((job / "config.yaml").read_text())
        assert cfg["trainer"]["devices"] == 2 and cfg["trainer"].get("num_nodes", 1) == 1
        assert cfg["trainer"]["strategy"]["_target_"] == "lightning_gen.strategies.ExactDDPStrategy"
        seeds.append(cfg["seed"])
        assert (job / "train_ddp_process_1.log").is_file()  # rank 1 ran in this job's folder
        assert (job / "checkpoints" / "last.ckpt").is_file()
        assert sorted(p.name for p in job.glob("metrics*.json")) == ["metrics.json"]
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["global_step"] == 3 and metrics["test"], metrics
        (csv_file,) = job.rglob("metrics.csv")
        rows = [tuple(row.items()) for row in csv.DictReader(csv_file.open())]
        assert len(rows) == len(set(rows))  # no row written twice (rank 1 logs nothing)
        assert sum(bool(dict(row).get("test/loss")) for row in rows) == 1
        assert sorted(dict(row)["step"] for row in rows if dict(row).get("train/loss")) == [
            "0",
            "1",
            "2",
        ]
    assert seeds == [0, 1]
    run_folders = {
        p.parent for p in tmp_path.rglob("*") if p.name in ("config.yaml", "checkpoints")
    }
    assert run_folders - {job / ".hydra" for job in jobs} == set(jobs)  # none anywhere else
