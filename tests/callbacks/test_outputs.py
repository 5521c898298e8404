"""What the metric and picture callbacks see: the validation step's own reconstruction (no second
forward pass), in-memory data read a batch at a time (same batches), test grids of the test split,
and image-to-image grids with their sources and targets."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Subset, default_collate

from lightning_gen.autoencoder.module import Autoencoder
from lightning_gen.callbacks.images import ImageGrids
from lightning_gen.callbacks.reconstruction import ReconstructionMetrics
from lightning_gen.data import ImageDataModule, ImageTensorDataset
from lightning_gen.data.bundled import SklearnDigits
from lightning_gen.data.dataset import collate, collate_pairs
from lightning_gen.data.paired import PairedTensorDataset, UnpairedTensorDataset
from lightning_gen.images import to_uint8
from lightning_gen.vae.module import VAE
from lightning_gen.vqvae.module import VQVAE


def digits(batch_size: int = 16) -> ImageDataModule:
    return ImageDataModule(SklearnDigits(), batch_size=batch_size, limit=120, seed=0)


def trainer(root, callbacks, **kw) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
        **kw,
    )


class NoOutputs(Autoencoder):
    """The same model without validation outputs: the callback falls back to ``reconstruct``."""

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)


@pytest.mark.parametrize(
    "family",
    [
        lambda: Autoencoder((1, 8, 8), latent_dim=4, widths=(8, 16)),
        lambda: VAE((1, 8, 8), latent_dim=4, widths=(8, 16)),
        lambda: VQVAE((1, 8, 8), widths=(8, 16), code_dim=4, codebook_size=8),
    ],
)
def test_reconstruction_metrics_and_grids_reuse_the_validation_steps_reconstruction(
    family, tmp_path
):
    torch.manual_seed(0)
    model = family()
    calls = {"encoder": 0}
    model.encoder.register_forward_hook(
        lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1)
    )
    dm = digits()
    cbs = [ReconstructionMetrics(), ImageGrids(num_images=8)]
    values = trainer(tmp_path / "a", cbs).validate(model, dm, verbose=False)[0]
    batches = -(-len(dm.splits["val"]) // dm.batch_size)
    assert calls["encoder"] == batches  # one encoder pass per batch: the model's own
    grid = tmp_path / "a" / "images" / "reconstructions_epoch000.png"
    assert grid.is_file()
    if isinstance(model, VQVAE):  # the step's reconstruction is reconstruct(x) (eval mode)
        x = dm.splits["val"][0][0][None]
        model.eval().log_dict = lambda *a, **k: None  # called outside a trainer loop here
        with torch.no_grad():
            out = model.validation_step((x, None), 0)["reconstruction"]
            assert torch.equal(out, model.reconstruct(x))
    if isinstance(
        model, Autoencoder
    ):  # the fallback (a model without outputs) gives the same numbers and the same grid
        torch.manual_seed(0)
        plain = NoOutputs((1, 8, 8), latent_dim=4, widths=(8, 16))
        cbs = [ReconstructionMetrics(), ImageGrids(num_images=8)]
        again = trainer(tmp_path / "b", cbs).validate(plain, dm, verbose=False)[0]
        assert {k: again[k] for k in ("val/mse", "val/psnr", "val/ssim")} == {
            k: values[k] for k in ("val/mse", "val/psnr", "val/ssim")
        }
        fallback = tmp_path / "b" / "images" / "reconstructions_epoch000.png"
        assert np.array_equal(np.array(Image.open(grid)), np.array(Image.open(fallback)))


def _items_one_by_one(ds, idx):
    return [ds[i] for i in idx]


@pytest.mark.parametrize("labelled", [True, False])
def test_in_memory_images_are_read_a_batch_at_a_time_with_the_same_batches(labelled, monkeypatch):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8, generator=g)
    ds = ImageTensorDataset(images, torch.arange(30) % 3 if labelled else None)
    sub = Subset(ds, list(range(29, -1, -2)))
    expected = [collate(_items_one_by_one(sub, range(i, min(i + 4, 15)))) for i in range(0, 15, 4)]
    monkeypatch.setattr(ImageTensorDataset, "__getitem__", lambda *a: pytest.fail("item by item"))
    got = list(DataLoader(sub, batch_size=4, collate_fn=collate))
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        assert (
            torch.equal(x, ex) and (y is None) == (ey is None) and (y is None or torch.equal(y, ey))
        )
    # any other collate function still sees the items one by one
    batch = sub.__getitems__([0, 1])
    assert all(
        torch.equal(a, b)
        for a, b in zip(default_collate(batch), default_collate(list(batch)), strict=True)
    )


def test_paired_and_unpaired_pairs_are_read_a_batch_at_a_time_with_the_same_batches():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (7, 1, 8, 8), dtype=torch.uint8, generator=g)
    b = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=g)
    for ds in (PairedTensorDataset(a, b[:7]), UnpairedTensorDataset(a.expand(-1, 3, -1, -1), b)):
        idx = [9 % len(ds), 0, 3, len(ds) - 1]
        fast = collate_pairs(ds.__getitems__(idx))
        slow = default_collate(_items_one_by_one(ds, idx))
        assert all(torch.equal(f, s) for f, s in zip(fast, slow, strict=True))


def _tile(path, index: int, size: int = 8, pad: int = 2, nrow: int = 16) -> np.ndarray:
    grid = np.asarray(Image.open(path))
    r, c = divmod(index, nrow)
    top, left = pad + r * (size + pad), pad + c * (size + pad)
    return grid[top : top + size, left : left + size]


def test_reconstructions_test_grid_shows_the_test_split(tmp_path):
    dm = digits()
    model = Autoencoder((1, 8, 8), latent_dim=4, widths=(8, 16))
    t = trainer(tmp_path, [ImageGrids(num_images=8)], max_epochs=1, limit_train_batches=2)
    t.fit(model, dm)
    t.test(model, dm, verbose=False)
    images = tmp_path / "images"
    first_val, first_test = dm.splits["val"][0][0], dm.splits["test"][0][0]
    assert np.array_equal(
        _tile(images / "reconstructions_epoch000.png", 0), to_uint8(first_val)[0].numpy()
    )
    assert np.array_equal(
        _tile(images / "reconstructions_test.png", 0), to_uint8(first_test)[0].numpy()
    )


class Negate(L.LightningModule):
    """An image-to-image 'model': the translation of a source is its negative."""

    def sample(self, n, *, condition=None):
        return -condition[:n, :1].expand(-1, 3, -1, -1)


def test_translation_grids_show_source_output_and_target(tmp_path):
    g = torch.Generator().manual_seed(0)
    target, source = (
        torch.rand(4, 3, 8, 8, generator=g) * 2 - 1,
        torch.rand(4, 1, 8, 8, generator=g) * 2 - 1,
    )
    cb = ImageGrids(num_images=4)
    cb.on_validation_batch_end(None, None, None, (target, source), 0)
    fake = SimpleNamespace(
        is_global_zero=True, default_root_dir=str(tmp_path), loggers=[], global_step=0
    )
    (path,) = cb.write(fake, Negate(), "epoch000")
    for k in range(4):  # one row of 4 (source, output, target) triples
        src, out, tgt = (_tile(path, 3 * k + j, nrow=12) for j in range(3))
        assert np.array_equal(src, to_uint8(source[k]).expand(3, -1, -1).permute(1, 2, 0).numpy())
        assert np.array_equal(out, to_uint8(-source[k]).expand(3, -1, -1).permute(1, 2, 0).numpy())
        assert np.array_equal(tgt, to_uint8(target[k]).permute(1, 2, 0).numpy())


class LabelSampler(L.LightningModule):
    """Records what ``sample`` was asked for; images are zeros."""

    def __init__(self):
        super().__init__()
        self.asked = []

    def sample(self, n, *, condition=None):
        self.asked.append((n, None if condition is None else condition.tolist()))
        return torch.zeros(n, 1, 8, 8)


def test_samples_grid_has_num_images_when_the_batch_is_smaller():
    """A class-conditional sampler gets the batch's labels, repeated up to ``num_images`` (a batch
    of 3 no longer shrinks a 7-image grid); image conditions (translation) are not repeated."""
    cb, model = ImageGrids(num_images=7), LabelSampler()
    cb._batch = (torch.zeros(3, 1, 8, 8), torch.tensor([4, 1, 9]))
    assert cb._samples(model).shape[0] == 7
    assert model.asked[-1] == (7, [4, 1, 9, 4, 1, 9, 4])
    cb._batch = (torch.zeros(9, 1, 8, 8)[:7], torch.arange(7))  # enough labels: used as they are
    cb._samples(model)
    assert model.asked[-1] == (7, list(range(7)))
