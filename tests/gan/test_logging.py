"""GAN per-step logging is cheap but complete: the same ``train/*`` keys on the steps that reach the
loggers (every ``trainer.log_every_n_steps``), nothing in between, and any non-finite value at once."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_gen.gan.module import GAN

SHAPE = [1, 28, 28]
SMALL = dict(latent_dim=8, g_widths=[8, 16], d_widths=[8, 16])
KEYS = {
    "train/d_loss",
    "train/g_loss",
    "train/d_adv",
    "train/d_real_acc",
    "train/d_fake_acc",
    "train/d_grad_norm",
    "train/g_grad_norm",
}


class StepSpy(L.Callback):
    """The keys logged during each training batch (``trainer.callback_metrics`` is reset per step)."""

    def __init__(self) -> None:
        self.per_step: list[set[str]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        logged = trainer._results.metrics(on_step=True)["callback"]
        self.per_step.append({k for k in logged if k.startswith("train/")})


def fit(model: GAN, steps: int, every: int, epochs: int = 1, logger=False) -> list[set[str]]:
    x = torch.rand(steps * 4, *SHAPE) * 2 - 1
    loader = DataLoader(
        TensorDataset(x), batch_size=4, collate_fn=lambda b: (torch.stack([i[0] for i in b]), None)
    )
    spy = StepSpy()
    L.Trainer(
        max_epochs=epochs,
        log_every_n_steps=every,
        accelerator="cpu",
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[spy],
    ).fit(model, train_dataloaders=loader)
    return spy.per_step


def test_every_step_logs_all_keys_when_log_every_n_steps_is_1():
    steps = fit(GAN(SHAPE, 0, **SMALL), steps=3, every=1)
    assert steps == [KEYS] * 3


def test_only_logging_steps_log_and_they_log_all_keys():
    steps = fit(GAN(SHAPE, 0, **SMALL), steps=6, every=3)
    # batches 1, 2 log nothing, batch 3 logs everything (Lightning may also log an epoch's last batch)
    assert steps[0] == steps[1] == set() and steps[2] == KEYS
    assert all(s in (set(), KEYS) for s in steps)


def test_non_finite_value_is_logged_on_a_non_logging_step():
    model = GAN(SHAPE, 0, **SMALL)
    with torch.no_grad():
        next(model.discriminator.parameters()).fill_(float("nan"))
    steps = fit(model, steps=1, every=50)
    assert {"train/d_loss", "train/g_loss"} <= steps[0]


def test_logging_steps_are_counted_over_the_whole_fit_like_lightnings_own(tmp_path):
    """2 epochs of 5 batches: every 3rd batch of the whole fit (3, 6, 9, across the epoch border)
    reaches the CSV logger, each row with every key."""
    import csv

    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(tmp_path, name="", version="")
    steps = fit(GAN(SHAPE, 0, **SMALL), steps=5, every=3, epochs=2, logger=logger)
    assert steps[2] == KEYS and steps[0] == steps[1] == set()
    with open(tmp_path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/d_loss")]
    # the step column is Lightning's 0-based count of stepping batches: batches 3, 6, 9
    assert [int(r["step"]) for r in rows] == [2, 5, 8], [r["step"] for r in rows]
    assert all(r[k] for r in rows for k in KEYS)
