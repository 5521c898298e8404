"""Autoencoder, denoising autoencoder, VAE, beta-VAE and conditional VAE: shared contract + specifics."""

from __future__ import annotations

import pytest
import torch

from lightning_gen.autoencoder.module import Autoencoder
from lightning_gen.autoencoder.noise import NOISE_MODELS
from lightning_gen.contracts import CanEncode, CanReconstruct, CanSample
from lightning_gen.errors import ConfigError
from lightning_gen.vae.loss import kl_to_standard_normal
from lightning_gen.vae.module import VAE
from tests.helpers.family_contract import check_family

SHAPE = [1, 28, 28]


@pytest.mark.parametrize(
    "make, labelled",
    [
        (lambda: Autoencoder(SHAPE, 10, latent_dim=8, widths=[8, 16]), False),
        (
            lambda: Autoencoder(
                SHAPE, 10, latent_dim=8, widths=[8, 16], noise="masking", noise_level=0.2
            ),
            False,
        ),
        (lambda: VAE(SHAPE, 10, latent_dim=8, widths=[8, 16], beta=4.0), False),
        (lambda: VAE(SHAPE, 10, latent_dim=8, widths=[8, 16], conditional=True), True),
    ],
    ids=["autoencoder", "denoising", "beta_vae", "cvae"],
)
def test_family_contract(make, labelled, mnist_batch, tmp_path):
    x, y = mnist_batch
    check_family(make, x[:16], y[:16] if labelled else None, tmp_path, steps=25)


def test_protocols_are_what_each_family_offers():
    ae, vae = Autoencoder(SHAPE), VAE(SHAPE)
    assert (
        isinstance(ae, CanReconstruct)
        and isinstance(ae, CanEncode)
        and not isinstance(ae, CanSample)
    )
    assert (
        isinstance(vae, CanSample)
        and isinstance(vae, CanReconstruct)
        and isinstance(vae, CanEncode)
    )


@pytest.mark.parametrize("name", sorted(NOISE_MODELS))
def test_noise_models_corrupt_a_controlled_fraction(name):
    torch.manual_seed(0)
    x = torch.zeros(8, 1, 32, 32)
    noisy = NOISE_MODELS[name](x, 0.3)
    assert noisy.shape == x.shape and noisy.min() >= -1 and noisy.max() <= 1
    changed = (noisy != x).float().mean().item()
    assert 0.2 < changed <= 1.0
    if name != "gaussian":  # exact fraction of pixels for the discrete models
        assert abs(changed - 0.3) < 0.03


def test_kl_matches_closed_form():
    mu, logvar = (
        torch.tensor([[1.0, -2.0]]),
        torch.tensor([[0.0, 2.0 * torch.log(torch.tensor(0.5))]]),
    )
    # KL(N(1,1)||N(0,1)) = 0.5; KL(N(-2, 0.25)||N(0,1)) = 0.5*(4 + 0.25 - 1 - log 0.25)
    expected = 0.5 + 0.5 * (4 + 0.25 - 1 - torch.log(torch.tensor(0.25)))
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), expected.reshape(1))


def test_cvae_sample_follows_condition():
    torch.manual_seed(0)
    m = VAE(SHAPE, 10, latent_dim=4, widths=[8, 16], conditional=True).eval()
    torch.manual_seed(1)
    a = m.sample(3, condition=torch.tensor([1, 1, 1]))
    torch.manual_seed(1)
    b = m.sample(3, condition=torch.tensor([2, 2, 2]))
    assert not torch.allclose(a, b), "the label must change the decoded image"


def test_bad_configs_name_the_problem():
    with pytest.raises(ConfigError, match="model.loss='huber'.*choose one of"):
        Autoencoder(SHAPE, loss="huber")
    with pytest.raises(ConfigError, match="model.noise"):
        Autoencoder(SHAPE, noise="speckle")
    with pytest.raises(ConfigError, match="not divisible"):
        Autoencoder([1, 28, 28], widths=[8, 16, 32])
    with pytest.raises(ConfigError, match="conditional VAE needs labelled data"):
        VAE(SHAPE, num_classes=0, conditional=True)
