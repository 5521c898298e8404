"""Observers never change training: the same seed gives bit-identical weights with and without each
callback (generation metrics with a cold and a warm classifier/reference cache, image grids,
latent pictures, reconstruction metrics). The Trainer here has no ``RunState``, so each callback's
own RNG isolation is what is tested."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import pytest
import torch

from lightning_gen.callbacks.generation import GenerationMetrics
from lightning_gen.callbacks.images import ImageGrids
from lightning_gen.callbacks.latent import LatentVisualisation
from lightning_gen.callbacks.reconstruction import ReconstructionMetrics
from lightning_gen.data import ImageDataModule
from lightning_gen.data.bundled import SklearnDigits
from lightning_gen.metrics.classifier import ClassifierSpec
from lightning_gen.rng import isolated_rng
from lightning_gen.vae.module import VAE
from tests.helpers.metrics_helpers import make_protocol


def train_weights(root, callbacks: list) -> dict[str, torch.Tensor]:
    """Two short epochs of a small VAE (its training draws noise from the global RNG)."""
    L.seed_everything(11)
    dm = ImageDataModule(SklearnDigits(), batch_size=16, limit=200, seed=0)
    model = VAE((1, 8, 8), num_classes=10, latent_dim=4, widths=(8, 16), lr=1e-2)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=2,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    trainer.fit(model, datamodule=dm)
    return {k: v.clone() for k, v in model.state_dict().items()}


def generation(cache) -> GenerationMetrics:
    spec = ClassifierSpec(widths=(8, 16), epochs=1, batch_size=64)
    protocol = make_protocol(
        spec, num_samples=32, chunk_size=16, kid_subsets=2, kid_subset_size=16, is_splits=2
    )
    return GenerationMetrics(protocol, cache_dir=str(cache), every_n_epochs=1)


OBSERVERS = {
    "image_grids": lambda cache: [ImageGrids(num_images=8)],
    "latent": lambda cache: [LatentVisualisation(num_images=40, pairs=2, steps=3)],
    "reconstruction": lambda cache: [ReconstructionMetrics()],
    # the same cache twice: first cold (classifier trained, reference extracted), then warm
    "generation_cold_then_warm": lambda cache: [generation(cache)],
}


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict[str, torch.Tensor]:
    """The weights trained without any callback."""
    return train_weights(tmp_path_factory.mktemp("plain"), [])


@pytest.mark.parametrize("name", OBSERVERS)
def test_observers_leave_training_bit_identical(name, plain, tmp_path):
    cache = tmp_path / "cache"
    runs = 2 if name.startswith("generation") else 1
    for i in range(runs):
        watched = train_weights(tmp_path / f"{name}{i}", OBSERVERS[name](cache))
        for key, value in plain.items():
            assert torch.equal(watched[key], value), (name, i, key)
    if runs == 2:
        assert list((cache / "classifiers").glob("*.pt")) and list(
            (cache / "reference").glob("*.pt")
        )


def test_isolated_rng_restores_every_global_state_even_on_error():
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    expected = (torch.rand(2), np.random.rand(2), random.random())
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    with pytest.raises(RuntimeError), isolated_rng():
        torch.rand(5), np.random.rand(5), random.random()
        raise RuntimeError("boom")
    assert torch.equal(torch.rand(2), expected[0])
    assert np.array_equal(np.random.rand(2), expected[1]) and random.random() == expected[2]
