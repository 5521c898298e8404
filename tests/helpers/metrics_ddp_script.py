"""Run by tests/metrics/test_ddp.py: GenerationMetrics under a real 2-process CPU DDP (gloo).

Rank 0 first scores the same sample set in a single process (no Trainer), then both ranks run
``trainer.validate`` with ``strategy=ddp``; every rank writes what it computed to ``<out>/rank<r>.json``.
Lightning's DDP launcher re-executes this script for rank 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from lightning_gen.callbacks.generation import GenerationMetrics  # noqa: E402
from lightning_gen.data import ImageDataModule  # noqa: E402
from lightning_gen.data.bundled import SklearnDigits  # noqa: E402
from lightning_gen.metrics.reference import ReferenceCache  # noqa: E402
from lightning_gen.metrics.sampling import sample_features  # noqa: E402
from lightning_gen.metrics.scorer import GenerationScorer  # noqa: E402
from tests.helpers.metrics_helpers import ProjectionExtractor, ReplaySampler, make_protocol  # noqa: E402

N, CHUNK, SCORER = 400, 50, {"kid_subsets": 10, "kid_subset_size": 100}


class Validating(ReplaySampler):
    def validation_step(self, batch, batch_idx):
        return None


def main(out: Path) -> None:
    torch.set_num_threads(1)
    dm = ImageDataModule(
        SklearnDigits(image_size=8), batch_size=32, limit=401, seed=0
    )  # odd val split: padding
    dm.setup()
    bank = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    result: dict = {}
    if os.environ.get("LOCAL_RANK", "0") == "0":  # the single-process value on the same images
        ext = ProjectionExtractor((1, 8, 8))
        ref = ReferenceCache(out / "single_cache").get(dm, ext)
        feats, logits = sample_features(
            Validating(bank, 0.1), ext, N, CHUNK, seed=7, label_weights=dm.label_counts("train")
        )
        result["single"] = GenerationScorer(16, seed=7, **SCORER).score(ref, feats, logits)
    ext = ProjectionExtractor((1, 8, 8))
    cb = GenerationMetrics(
        make_protocol(ext, num_samples=N, chunk_size=CHUNK, seed=7, **SCORER),
        cache_dir=str(out / "cache"),
        every_n_epochs=1,
    )
    trainer = L.Trainer(
        strategy="ddp",
        accelerator="cpu",
        devices=2,
        callbacks=[cb],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out / "run",
    )
    trainer.validate(Validating(bank, 0.1), datamodule=dm)
    result.update(
        {
            "ddp": {k.split("/", 1)[1]: v for k, v in cb.history[-1]["values"].items()},
            "world_size": trainer.world_size,
            "generated_images": ext.images,
            "reference_count": cb.reference.count,
            "logged_fid": float(trainer.callback_metrics["val/fid"]),
        }
    )
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
