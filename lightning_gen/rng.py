"""The global random states (torch CPU and CUDA, numpy, python): save, restore, isolate.

``isolated_rng()`` is how observers (metric callbacks, image grids, the feature classifier,
reference statistics) keep their hands off training: whatever they draw inside it, the global
states are back to what they were when it exits, so turning a callback on never changes what
training draws next. ``collect_rng`` / ``restore_rng`` hold the states as plain tensors, lists and
ints, so they also travel in a ``weights_only`` checkpoint.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def collect_rng() -> dict[str, Any]:
    """Torch (CPU and CUDA), numpy and python RNG states as tensors / lists / ints only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, pystate, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [
            str(kind),
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ],
        "python": [int(version), list(pystate), py_gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of ``collect_rng``."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, pystate, py_gauss = state["python"]
    random.setstate((version, tuple(pystate), py_gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def isolated_rng() -> Iterator[None]:
    """Run a block without a trace on the global RNG states (restored on exit, errors included).

    CUDA states are saved only when CUDA is already initialised; a block that first initialises
    CUDA starts it from its default seed, as training would.
    """
    state = collect_rng()
    try:
        yield
    finally:
        restore_rng(state)
