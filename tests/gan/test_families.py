"""GAN families: the shared contract, one adversarial step, EMA, non-finite losses, translation."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_gen.errors import ConfigError
from lightning_gen.gan.module import GAN
from lightning_gen.gan.translation import CycleGAN, Pix2Pix
from tests.helpers.family_contract import check_family

SHAPE = [1, 28, 28]
SMALL = dict(latent_dim=16, g_widths=[16, 32], d_widths=[16, 32])


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """32 MNIST digits ``(32, 1, 28, 28)`` in ``[-1, 1]`` and labels, loaded once for this module."""
    from lightning_gen.data.bundled import MNISTBundled

    ds = MNISTBundled().load()
    return torch.stack([ds[i][0] for i in range(32)]), ds.labels[:32].clone()


GANS = {
    "dcgan": (lambda: GAN(SHAPE, 10, **SMALL), False),
    "wgan_gp": (
        lambda: GAN(SHAPE, 10, **SMALL, loss="wgan", gp_weight=10.0, n_critic=2, betas=[0.0, 0.9]),
        False,
    ),
    "cgan": (
        lambda: GAN(
            SHAPE,
            10,
            **SMALL,
            loss="hinge",
            conditional=True,
            spectral_norm=True,
            g_lr=1e-4,
            d_lr=4e-4,
        ),
        True,
    ),
    "stylegan": (
        lambda: GAN(
            SHAPE,
            10,
            **(SMALL | {"g_widths": [8, 16]}),
            generator="style",
            r1_gamma=1.0,
            g_lr=2e-3,
            d_lr=2e-3,
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(GANS))
def test_gan_family_contract(name, digits, tmp_path):
    make, labelled = GANS[name]
    x, y = digits
    check_family(make, x[:16], y[:16] if labelled else None, tmp_path, steps=30)


def _pair_loader(target: torch.Tensor, source: torch.Tensor) -> DataLoader:
    return DataLoader(TensorDataset(target, source), batch_size=len(target))


def _fit(model: L.LightningModule, loader: DataLoader, steps: int, tmp_path) -> L.Trainer:
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, train_dataloaders=loader)
    return trainer


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_translation_family_contract(family, digits, tmp_path):
    """The shared contract with source images as the condition: outputs in range, 20 steps (10 batches)
    lower the public loss (Pix2Pix: L1 to the targets; CycleGAN: cycle loss), the checkpoint round-trips."""
    x, _ = digits
    target, source = x[:8], -x[:8]  # a learnable pixel mapping: inversion
    if family == "pix2pix":
        make = lambda: Pix2Pix(SHAPE, g_widths=[16, 32], d_widths=[16, 32], dropout=0.0, g_lr=1e-3)  # noqa: E731
    else:
        make = lambda: CycleGAN(
            SHAPE, width=8, blocks=1, d_widths=[16, 32], history_size=4, g_lr=1e-3
        )  # noqa: E731
    with pytest.raises(ValueError, match="needs source images"):
        make().sample(4)
    check_family(make, target, source, tmp_path, steps=20)


def _params(m: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in m.parameters()])


@pytest.mark.parametrize(
    "make",
    [
        lambda: GAN(SHAPE, 10, **SMALL, ema_decay=0.5),
        lambda: Pix2Pix(SHAPE, g_widths=[16, 32], d_widths=[16, 32]),
        lambda: CycleGAN(SHAPE, width=8, blocks=1, d_widths=[16, 32]),
    ],
    ids=["gan", "pix2pix", "cyclegan"],
)
def test_one_adversarial_step_changes_both_networks(make, digits, tmp_path):
    x, _ = digits
    model = make()
    gens, discs = model.generators(), model.discriminators()
    g0, d0 = [_params(g) for g in gens], [_params(d) for d in discs]
    loader = (
        _pair_loader(x[:4], -x[:4])
        if not isinstance(model, GAN)
        else DataLoader(
            TensorDataset(x[:4]),
            batch_size=4,
            collate_fn=lambda b: (torch.stack([i[0] for i in b]), None),
        )
    )
    _fit(model, loader, 2, tmp_path)  # one batch = one D step + one G step
    for before, m in [*zip(g0, gens, strict=True), *zip(d0, discs, strict=True)]:
        assert not torch.equal(before, _params(m)), f"{type(m).__name__} did not change"
    if isinstance(
        model, GAN
    ):  # the EMA copy moved towards G (warm-up decay 1/10 at the first step)
        ema, g = _params(model.g_ema), _params(model.generator)
        assert not torch.equal(ema, g0[0]) and torch.allclose(ema, 0.1 * g0[0] + 0.9 * g, atol=1e-6)
        assert int(model.ema_steps) == 1


def test_non_finite_loss_is_logged_and_the_step_skipped(digits, tmp_path):
    x, _ = digits
    model = GAN(SHAPE, 10, **SMALL, ema_decay=0.0)
    model.discriminator.head.bias.data.fill_(float("nan"))
    logged: dict[str, float] = {}

    class Spy(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            logged.update({k: float(v) for k, v in trainer.callback_metrics.items()})

    g0 = _params(model.generator)
    loader = DataLoader(
        TensorDataset(x[:4]),
        batch_size=4,
        collate_fn=lambda b: (torch.stack([i[0] for i in b]), None),
    )
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Spy()],
        default_root_dir=tmp_path,
    )
    trainer.fit(model, train_dataloaders=loader)
    assert torch.isnan(torch.tensor(logged["train/d_loss"])) and torch.isnan(
        torch.tensor(logged["train/g_loss"])
    )
    assert torch.equal(_params(model.generator), g0), "a NaN loss must not update the weights"


def test_conditional_sample_follows_the_label():
    model = GAN(SHAPE, 10, **SMALL, conditional=True).eval()
    torch.manual_seed(1)
    a = model.sample(3, condition=torch.tensor([1, 1, 1]))
    torch.manual_seed(1)
    b = model.sample(3, condition=torch.tensor([7, 7, 7]))
    assert not torch.allclose(a, b)


def test_bad_gan_configs_name_the_problem():
    with pytest.raises(ConfigError, match="conditional GAN needs labelled data"):
        GAN(SHAPE, 0, conditional=True)
    with pytest.raises(ConfigError, match="model.generator='big'"):
        GAN(SHAPE, 0, generator="big")
    with pytest.raises(ConfigError, match="model.loss"):
        Pix2Pix(SHAPE, loss="nope")
    with pytest.raises(ConfigError, match="not divisible"):
        GAN(SHAPE, 0, g_widths=[8, 16, 32])


def test_touch_keeps_the_loss_and_reaches_every_parameter():
    from lightning_gen.gan.base import touch

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    loss = torch.tensor(1.5, requires_grad=True)
    out = touch(loss * 2, net)
    assert out.item() == 3.0
    out.backward()
    assert loss.grad.item() == 2.0
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
