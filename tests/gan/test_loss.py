"""GAN losses and regularisers against hand-computed values; the fake-history buffer."""

from __future__ import annotations

import math

import pytest
import torch

from lightning_gen.errors import ConfigError
from lightning_gen.gan.history import FakeHistory
from lightning_gen.gan.loss import (
    ADVERSARIAL,
    cycle_loss,
    get_adversarial,
    gradient_penalty,
    identity_loss,
    r1_penalty,
    real_fake_accuracy,
)


def square_critic(x: torch.Tensor) -> torch.Tensor:
    """D(x) = sum(x^2) per image, so grad_x D = 2x."""
    return x.pow(2).flatten(1).sum(1)


def test_gradient_penalty_matches_hand_computation():
    # 2 images of 1x2x2 = 4 pixels. x_hat = eps*real + (1-eps)*fake; grad = 2*x_hat.
    real = torch.stack([torch.full((1, 2, 2), 1.0), torch.full((1, 2, 2), 3.0)])
    fake = torch.stack([torch.full((1, 2, 2), 0.0), torch.full((1, 2, 2), 1.0)])
    eps = torch.tensor([0.5, 0.5]).view(2, 1, 1, 1)
    # image 1: x_hat=0.5, grad=1 per pixel, |grad|=2, (2-1)^2=1; image 2: x_hat=2, grad=4, |grad|=8, 49
    gp = gradient_penalty(square_critic, real, fake, eps)
    assert gp.item() == pytest.approx((1 + 49) / 2)


def test_gradient_penalty_trains_the_critic():
    w = torch.tensor(2.0, requires_grad=True)
    real, fake = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    gp = gradient_penalty(lambda x: w * square_critic(x), real, fake, torch.full((3, 1, 1, 1), 0.5))
    # grad = 2*w*0.5 = w per pixel, |grad| = 2w = 4 -> gp = 9; d gp / dw = 2 (2w - 1) * 2 = 12
    assert gp.item() == pytest.approx(9.0)
    gp.backward()
    assert w.grad.item() == pytest.approx(12.0)


def test_r1_penalty_matches_hand_computation():
    x = torch.tensor([1.0, -2.0, 0.5, 0.0]).view(1, 1, 2, 2)
    # |2x|^2 = 4 * (1 + 4 + 0.25) = 21
    assert r1_penalty(square_critic, x).item() == pytest.approx(21.0)


@pytest.mark.parametrize(
    "name, real, fake, d_expected, g_expected",
    [
        ("non_saturating", 0.0, 0.0, 2 * math.log(2), math.log(2)),
        ("hinge", 1.0, -1.0, 0.0, 1.0),
        ("hinge", 0.0, 0.0, 2.0, 0.0),
        ("wgan", 3.0, 1.0, -2.0, -1.0),
        ("least_squares", 1.0, 0.0, 0.0, 1.0),
    ],
)
def test_adversarial_losses_at_known_logits(name, real, fake, d_expected, g_expected):
    adv = get_adversarial(name)
    r, f = torch.full((4,), real), torch.full((4,), fake)
    assert adv.d_loss(r, f).item() == pytest.approx(d_expected, abs=1e-6)
    assert adv.g_loss(f).item() == pytest.approx(g_expected, abs=1e-6)


def test_non_saturating_discriminator_loss_falls_as_it_separates():
    adv = ADVERSARIAL["non_saturating"]
    losses = [adv.d_loss(torch.full((2,), s), torch.full((2,), -s)).item() for s in (0.0, 1.0, 5.0)]
    assert losses[0] > losses[1] > losses[2] > 0


def test_unknown_loss_names_the_choices():
    with pytest.raises(ConfigError, match="model.loss='bce'.*choose one of"):
        get_adversarial("bce")


def test_accuracy_counts_signs():
    real_acc, fake_acc = real_fake_accuracy(
        torch.tensor([1.0, -1.0, 2.0, 3.0]), torch.tensor([-1.0, 1.0])
    )
    assert real_acc.item() == 0.75 and fake_acc.item() == 0.5


def test_cycle_and_identity_losses_vanish_for_identity_generators():
    a, b = torch.rand(3, 1, 4, 4) * 2 - 1, torch.rand(3, 1, 4, 4) * 2 - 1
    ident = lambda x: x  # noqa: E731
    assert cycle_loss(ident, ident, a, b).item() == 0.0
    assert identity_loss(ident, ident, a, b).item() == 0.0
    # inverse pairs also close the cycle, but not the identity loss: |b+1-b| + |a-1-a| = 2
    plus, minus = (lambda x: x + 1), (lambda x: x - 1)
    assert cycle_loss(plus, minus, a, b).item() == pytest.approx(0.0, abs=1e-6)
    assert identity_loss(plus, minus, a, b).item() == pytest.approx(2.0)
    # a generator that doubles: cycle error |2a - a| for a and |2b - b| for b
    assert cycle_loss(lambda x: 2 * x, ident, a, b).item() == pytest.approx(
        (a.abs().mean() + b.abs().mean()).item()
    )


def test_fake_history_fills_then_mixes_old_fakes():
    torch.manual_seed(0)
    pool = FakeHistory(size=4, p=1.0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    second = torch.arange(10.0, 14.0).view(4, 1, 1, 1)
    out = pool.query(second)  # p=1: every image swapped for a stored one
    assert set(out.flatten().tolist()) <= set(range(4)) | set(range(10, 14))
    assert all(v < 10 for v in out.flatten().tolist()[:1])  # the first is an old fake
    assert len(pool.images) == 4 and any(float(i) >= 10 for i in pool.images)
    assert torch.equal(FakeHistory(size=0).query(second), second)
