"""Run by tests/data/test_ddp.py: the data module's loaders under a real N-process CPU DDP (gloo).

Every rank validates and tests a seeded autoencoder (odd-sized 23-image splits, so a padding
sampler would score duplicates), then trains it for two epochs recording the data indices each of
its train batches held (the labels are the indices). Each rank writes ``<out>/rank<r>.json``.
Lightning's DDP launcher re-executes this script for the other ranks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lightning_gen.autoencoder.module import Autoencoder  # noqa: E402
from lightning_gen.callbacks.reconstruction import ReconstructionMetrics  # noqa: E402
from lightning_gen.data import ImageDataModule, ImageTensorDataset  # noqa: E402
from lightning_gen.data.bundled import SklearnDigits  # noqa: E402
from lightning_gen.strategies import ExactDDPStrategy  # noqa: E402


class IndexedDigits:
    """scikit-learn digits whose label is the image's own index (to see which images a rank got)."""

    def load(self) -> ImageTensorDataset:
        images = SklearnDigits().load().images
        return ImageTensorDataset(images, torch.arange(len(images)))


def build() -> tuple[ImageDataModule, Autoencoder]:
    """The data (23 val, 23 test, 69 train images) and a seeded model, the same in every process."""
    dm = ImageDataModule(
        IndexedDigits(), batch_size=8, val_fraction=0.2, test_fraction=0.2, limit=115, seed=3
    )
    torch.manual_seed(0)
    return dm, Autoencoder((1, 8, 8), latent_dim=4, widths=(8, 16), lr=1e-2)


class RecordIndices(L.Callback):
    """``seen[epoch]``: the indices of every train batch of this rank, in order."""

    def __init__(self) -> None:
        self.seen: dict[int, list[int]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.setdefault(trainer.current_epoch, []).extend(batch[1].tolist())


def trainer_for(devices: int, out: Path, callbacks: list) -> L.Trainer:
    return L.Trainer(
        strategy=ExactDDPStrategy() if devices > 1 else "auto",
        accelerator="cpu",
        devices=devices,
        max_epochs=2,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=out,
    )


def main(out: Path, devices: int) -> None:
    torch.set_num_threads(1)
    dm, model = build()
    record = RecordIndices()
    trainer = trainer_for(devices, out, [ReconstructionMetrics(), record])
    val = trainer.validate(model, datamodule=dm, verbose=False)[0]
    test = trainer.test(model, datamodule=dm, verbose=False)[0]
    trainer.fit(model, datamodule=dm)
    result = {
        "world_size": trainer.world_size,
        "val": val,
        "test": test,
        "seen": record.seen,
        "train_split": dm.splits["train"].indices,
    }
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
