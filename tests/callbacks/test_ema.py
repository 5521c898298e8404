"""The EMA callback's warm-up: the averaged weights after n updates equal the closed form."""

import copy

import pytest
import torch
from torch.optim.swa_utils import AveragedModel

from lightning_gen.callbacks.ema import WarmupEMAWeightAveraging, _ema_update, warmup_decay
from lightning_gen.errors import ConfigError


def _averages(callback, states):
    """Drive torch's AveragedModel with the callback's arguments, as Lightning's setup does."""
    net = torch.nn.Linear(3, 2)
    avg = AveragedModel(copy.deepcopy(net), use_buffers=True, **callback._kwargs)
    for w in states:
        with torch.no_grad():
            net.weight.copy_(w)
        avg.update_parameters(net)
    return avg.module.weight.detach()


@pytest.mark.parametrize("warmup", [True, False])
def test_average_matches_the_closed_form(warmup):
    torch.manual_seed(0)
    states = [torch.randn(2, 3) for _ in range(40)]
    decay = 0.9
    cb = WarmupEMAWeightAveraging(decay=decay, warmup=warmup)
    expected = states[0].clone()  # the first update copies the weights
    for n, w in enumerate(states[1:], start=1):
        d = min(decay, (1 + n) / (10 + n)) if warmup else decay
        expected = d * expected + (1 - d) * w
    torch.testing.assert_close(_averages(cb, states), expected, rtol=1e-5, atol=1e-6)


def test_warmup_forgets_the_initial_weights():
    """After 400 updates at decay 0.995 the plain EMA still holds 13 % of the first weights; the
    warm-up's holds (1 + 1) / (10 + 1) * ... < 0.1 %."""
    init, later = torch.zeros(2, 3), torch.ones(2, 3)
    states = [init] + [later] * 400
    plain = _averages(WarmupEMAWeightAveraging(decay=0.995, warmup=False), states)
    warm = _averages(WarmupEMAWeightAveraging(decay=0.995), states)
    assert 0.12 < 1 - plain.mean() < 0.14
    assert 1 - warm.mean() < 1e-3


def test_decay_schedule_and_bad_decay():
    assert warmup_decay(0.999, 1) == pytest.approx(2 / 11)
    assert warmup_decay(0.999, 8990) == pytest.approx(0.999)
    assert warmup_decay(0.995, 100_000) == 0.995
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match="callbacks.ema.decay"):
            WarmupEMAWeightAveraging(decay=bad)


def test_decay_is_not_rounded_to_the_weights_precision():
    """bf16 weights: in bf16 a decay of 0.999 is 1.0 and the average would never move."""
    averaged, current = torch.zeros(4, dtype=torch.bfloat16), torch.ones(4, dtype=torch.bfloat16)
    _ema_update([averaged], [current], torch.tensor(10_000), decay=0.999)
    torch.testing.assert_close(averaged.float(), torch.full((4,), 0.001), rtol=1e-3, atol=0)
