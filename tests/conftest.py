"""Shared fixtures. Tests never download: data comes from installed packages or files written here."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def mnist_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """32 real MNIST digits ``(32, 1, 28, 28)`` in ``[-1, 1]`` with labels ``(32,)``."""
    from lightning_gen.data.bundled import MNISTBundled

    ds = MNISTBundled().load()
    x = torch.stack([ds[i][0] for i in range(32)])
    return x, ds.labels[:32].clone()
