"""`lgen train ... callbacks=generation` (one smoke subprocess), `lgen evaluate` and `lgen classifier`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from lightning_gen.commands.classifier import build_classifier
from lightning_gen.commands.evaluate import evaluate, load_images
from lightning_gen.errors import DataError
from lightning_gen.images import to_uint8

KEYS = {"fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall"}
SMALL = [
    "metrics.num_samples=64",
    "metrics.chunk_size=32",
    "metrics.kid_subsets=5",
    "metrics.kid_subset_size=32",
]


def eval_cfg(root: Path, *overrides: str):
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        return compose(
            "evaluate",
            overrides=[
                f"paths.root_dir={root}",
                f"paths.cache_dir={root}/cache",
                f"paths.output_dir={root}/eval",
                *overrides,
            ],
        )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lgen")
    env = {
        **os.environ,
        "LGEN_ROOT": str(root),
        "LGEN_CACHE": str(root / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "lightning_gen.commands.cli",
        "train",
        "debug=smoke",
        "experiment=vae_mnist",
        "data=digits",
        "callbacks=generation",
        "logger=csv",
    ]  # digits: loads in ms, MNIST's CSV takes ~10 s
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def test_smoke_training_run_logs_generation_metrics(smoke_run):
    run = next(smoke_run.glob("runs/vae_mnist/*/"))  # (experiment name, digits data)
    record = json.loads((run / "metrics.json").read_text())
    assert {f"val/{k}" for k in KEYS} <= set(record["val"]) and {f"test/{k}" for k in KEYS} <= set(
        record["test"]
    )
    assert 0 <= record["val"]["val/precision"] <= 1 and record["val"]["val/fid"] > 0
    lines = [json.loads(x) for x in (run / "generation_metrics.jsonl").read_text().splitlines()]
    assert [x["stage"] for x in lines] == ["val", "test"]
    proto = lines[0]["protocol"]
    assert (
        proto["num_samples"] == 64
        and proto["reference_count"] == 204
        and proto["extractor"]["name"] == "classifier"
    )
    assert (
        0 <= proto["extractor"]["accuracy"] <= 1
        and len(list((smoke_run / "cache" / "classifiers").glob("*.pt"))) == 1
    )


def test_evaluate_checkpoint_and_images_write_metrics_json(smoke_run, tmp_path):
    run = next(smoke_run.glob("runs/vae_mnist/*/"))
    cfg = eval_cfg(smoke_run, f"checkpoint={run}", "data=digits", "data.limit=256", *SMALL)
    record = evaluate(cfg)
    saved = json.loads((smoke_run / "eval" / "metrics.json").read_text())
    assert saved == {"generation": json.loads(json.dumps(record))}
    assert set(record["values"]) == {f"evaluate/{k}" for k in KEYS}
    proto = record["protocol"]
    assert proto["num_samples"] == 64 and proto["seed"] == 0 and proto["reference_count"] == 204
    assert proto["extractor"]["name"] == "classifier" and record["source"] == "evaluate"
    # one record format: the same keys as the training callback's records
    line = json.loads((run / "generation_metrics.jsonl").read_text().splitlines()[0])
    assert set(line) == set(record) and set(line["protocol"]) == set(proto)
    assert (
        line["protocol_key"] == record["protocol_key"]
    )  # same protocol (VAE: no sampling options)
    fid = record["values"]["evaluate/fid"]
    # the training run's classifier and reference statistics were reused (one file each)
    assert len(list((smoke_run / "cache" / "classifiers").glob("*.pt"))) == 1
    assert len(list((smoke_run / "cache" / "reference").glob("*.pt"))) == 1
    # real held-out digits as "generated" images (.npz, NHWC) score far better than the 3-step VAE
    from lightning_gen.data.bundled import SklearnDigits

    real = (
        SklearnDigits(image_size=16).load().images[-300:]
    )  # (300, 1, 16, 16) uint8, outside the 256 used
    np.savez(tmp_path / "real.npz", images=real.permute(0, 2, 3, 1).numpy())
    good = evaluate(
        eval_cfg(
            smoke_run,
            f"images={tmp_path / 'real.npz'}",
            "data=digits",
            "data.limit=256",
            *SMALL[2:],
        )
    )
    assert good["protocol"]["num_samples"] == 300 and good["values"]["evaluate/fid"] < fid
    assert good["values"]["evaluate/recall"] > record["values"]["evaluate/recall"]


def test_load_images_reads_npz_layouts_and_png_folders(tmp_path):
    from PIL import Image

    x = to_uint8(torch.rand(5, 3, 6, 6) * 2 - 1)  # (N, C, H, W) uint8
    np.savez(tmp_path / "nchw.npz", images=x.numpy())
    np.savez(tmp_path / "nhwc.npz", x.permute(0, 2, 3, 1).numpy())  # the only array, unnamed
    np.savez(tmp_path / "float.npz", images=(x.float() / 127.5 - 1).numpy())  # floats in [-1, 1]
    for name in ("nchw", "nhwc", "float"):
        assert torch.equal(load_images(str(tmp_path / f"{name}.npz")), x), name
    (tmp_path / "pngs").mkdir()
    for i, img in enumerate(x[:, :1]):
        Image.fromarray(img[0].numpy()).save(tmp_path / "pngs" / f"{i:03d}.png")
    assert torch.equal(load_images(str(tmp_path / "pngs")), x[:, :1])
    np.savez(tmp_path / "two.npz", a=x.numpy(), b=x.numpy())
    with pytest.raises(DataError, match="name the array 'images'"):
        load_images(str(tmp_path / "two.npz"))
    with pytest.raises(DataError, match="folder of images or an .npz"):
        load_images(str(tmp_path / "missing.npz"))


def test_classifier_command_trains_and_caches(tmp_path, capsys):
    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose(
            "classifier",
            overrides=[
                "data=digits",
                f"paths.cache_dir={tmp_path}",
                "metrics.extractor.epochs=4",
                "metrics.extractor.lr=1e-2",
                "metrics.extractor.batch_size=64",
                "metrics.extractor.widths=[8,16,32]",
            ],
        )
    ext = build_classifier(cfg)
    out = capsys.readouterr().out
    assert f"val accuracy {ext.accuracy:.4f}" in out and str(tmp_path) in out
    assert ext.accuracy > 0.5 and len(list((tmp_path / "classifiers").glob("*.pt"))) == 1
