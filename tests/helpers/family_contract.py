"""The contract every model family passes (DESIGN.md): call ``check_family`` from the family's test.

- ``sample(n, condition=None)``: shape ``(n, C, H, W)``, float, finite, in ``[-1, 1]``.
- ``reconstruct(x)``: shape/dtype of ``x``, in ``[-1, 1]``.
- ``contracts.condition_classes``: > every label of a labelled family, 0 otherwise.
- a few optimisation steps through a real ``Trainer`` on one tiny batch lower the family's public,
  deterministic ``loss(batch, generator=...)`` (``contracts.HasLoss``).
- a checkpoint saved by the Trainer loads with ``weights_only=True`` and reproduces outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_gen.contracts import (
    CanReconstruct,
    CanSample,
    HasLoss,
    call_with_condition,
    condition_classes,
)
from lightning_gen.data.dataset import NO_LABEL, collate


def _loader(x: torch.Tensor, y: torch.Tensor | None, batch_size: int) -> DataLoader:
    """Batches ``(x, labels or None)``, or ``(x, source images)`` when ``y`` is an image condition."""
    if y is not None and y.ndim == 4:  # translation models: (target, source) pairs
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)
    labels = y if y is not None else torch.full((len(x),), NO_LABEL)
    ds = TensorDataset(x, labels)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=lambda b: collate([(img, int(lab)) for img, lab in b]),
    )


def check_outputs(model: L.LightningModule, x: torch.Tensor, y: torch.Tensor | None) -> None:
    """Shapes, dtype and range of ``sample`` / ``reconstruct`` (whichever the model has)."""
    assert isinstance(model, (CanSample, CanReconstruct)), "a family must sample or reconstruct"
    # class labels as the condition <=> the model says how many classes it can be asked for
    if y is not None and y.ndim == 1:
        assert condition_classes(model) > int(y.max()), "labelled family: condition_classes"
    else:
        assert condition_classes(model) == 0, "a model trained without labels takes no class"
    model.eval()
    with torch.no_grad():
        if isinstance(model, CanSample):
            cond = y[:4] if y is not None else None
            s = model.sample(4, condition=cond)
            assert s.shape == (4, *x.shape[1:]), s.shape
            assert s.dtype == torch.float32 and torch.isfinite(s).all()
            assert s.min() >= -1 - 1e-5 and s.max() <= 1 + 1e-5
        if isinstance(model, CanReconstruct):
            r = call_with_condition(model.reconstruct, x[:4], y[:4] if y is not None else None)
            assert r.shape == x[:4].shape and r.dtype == x.dtype
            assert r.min() >= -1 - 1e-5 and r.max() <= 1 + 1e-5
    model.train()


def hook_loss(model: L.LightningModule, x: torch.Tensor, y: torch.Tensor | None) -> float:
    """The family's own loss on the batch ``(x, y)`` with a fixed generator, in eval mode (no
    dropout, no spectral-norm power iteration) and without gradients; the mode is restored."""
    assert isinstance(model, HasLoss), f"{type(model).__name__} has no public loss(batch, ...)"
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return float(model.loss((x, y), generator=torch.Generator().manual_seed(0)))
    finally:
        model.train(was_training)


def check_family(
    make_model: Callable[[], L.LightningModule],
    x: torch.Tensor,
    y: torch.Tensor | None,
    tmp_path: Path,
    steps: int = 30,
    outputs: Callable[[L.LightningModule], torch.Tensor] | None = None,
    eval_loss: Callable[[L.LightningModule, torch.Tensor, torch.Tensor | None], float] = hook_loss,
) -> None:
    """Run the whole contract on a tiny batch ``x`` (``(B, C, H, W)`` in ``[-1, 1]``) and its condition
    ``y``: class labels ``(B,)``, source images ``(B, C', H, W)`` for translation models, or None.

    ``eval_loss(model, x, y)`` is a deterministic loss (default: the family's ``loss`` hook with a
    fixed generator, checked to be deterministic);
    ``outputs(model)`` gives a deterministic output to compare after reloading (default:
    ``sample`` or ``reconstruct`` under a fixed seed).
    """
    model = make_model()
    check_outputs(model, x, y)

    before = eval_loss(model, x, y)
    torch.manual_seed(1)  # the global RNG does not matter: the same generator, the same loss
    assert eval_loss(model, x, y) == before, "the loss is not deterministic for a fixed generator"
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
    trainer.fit(model, train_dataloaders=_loader(x, y, len(x)))
    after = eval_loss(model, x, y)
    assert after < before, (
        f"{steps} steps on one batch did not lower the loss: {before:.4f} -> {after:.4f}"
    )

    def default_outputs(m: L.LightningModule) -> torch.Tensor:
        torch.manual_seed(123)
        with torch.no_grad():
            if isinstance(m, CanSample):
                return m.sample(4, condition=y[:4] if y is not None else None)
            return call_with_condition(m.reconstruct, x[:4], y[:4] if y is not None else None)

    outputs = outputs or default_outputs
    model.eval()
    expected = outputs(model)
    path = tmp_path / "roundtrip.ckpt"
    trainer.save_checkpoint(path)
    loaded = type(model).load_from_checkpoint(path, map_location="cpu", weights_only=True)
    loaded.eval()
    torch.testing.assert_close(outputs(loaded), expected)
