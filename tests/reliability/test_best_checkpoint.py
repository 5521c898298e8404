"""Issue 15 (extras): a GAN's best.ckpt is chosen by a quality metric (val/fid) when one is logged;
without it only last.ckpt is kept (the adversarial val/loss never picks a "best")."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.demos.boring_classes import BoringModel

from lightning_gen.callbacks.best_checkpoint import BestCheckpoint
from lightning_gen.checkpoints import read_checkpoint
from tests.helpers.resume import compose_train

FID_PER_EPOCH = [5.0, 2.0, 3.0]


class FidModel(BoringModel):
    """Logs ``val/loss`` (rising) and, with ``fid``, ``val/fid`` = FID_PER_EPOCH[epoch]."""

    def __init__(self, fid: bool) -> None:
        super().__init__()
        self.fid = fid

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", float(self.current_epoch))
        if self.fid:
            self.log("val/fid", FID_PER_EPOCH[self.current_epoch])
        return super().validation_step(batch, batch_idx)


def fit(tmp_path, fid: bool) -> BestCheckpoint:
    best = BestCheckpoint(dirpath=tmp_path, filename="best", monitor="val/fid", mode="min")
    trainer = L.Trainer(
        max_epochs=3,
        limit_train_batches=2,
        limit_val_batches=1,
        callbacks=[best],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(FidModel(fid))
    return best


def test_best_checkpoint_follows_the_quality_metric(tmp_path):
    best = fit(tmp_path, fid=True)
    assert best.best_model_score == torch.tensor(2.0)
    assert read_checkpoint(tmp_path / "best.ckpt")["epoch"] == 1  # the epoch of the lowest FID


def test_without_the_quality_metric_only_last_is_kept(tmp_path, caplog):
    with caplog.at_level("INFO"):
        best = fit(tmp_path, fid=False)  # Lightning's ModelCheckpoint would raise here
    assert best.best_model_path == "" and not (tmp_path / "best.ckpt").exists()
    assert "val/fid is not logged" in caplog.text and "keeping only" in caplog.text


@pytest.mark.parametrize("name", ["dcgan_mnist", "cgan_mnist", "stylegan_mnist", "wgan_gp_mnist"])
def test_noise_gan_experiments_pick_best_by_fid(name, tmp_path):
    for extra in ([], ["callbacks=generation"]):
        cfg = compose_train(tmp_path, f"experiment={name}", *extra).callbacks.model_checkpoint
        assert cfg._target_.endswith("BestCheckpoint") and (cfg.monitor, cfg.mode) == (
            "val/fid",
            "min",
        )


def test_vqvae_picks_best_by_reconstruction_not_by_the_commitment_term(tmp_path):
    """val/loss adds the commitment term, which grows while the codebook settles; the first
    stage of the VQ pipeline is kept for its reconstructions (the VQ-VAE logs val/recon)."""
    cfg = compose_train(tmp_path, "experiment=vqvae_mnist").callbacks.model_checkpoint
    assert (cfg.monitor, cfg.mode) == ("val/recon", "min")
