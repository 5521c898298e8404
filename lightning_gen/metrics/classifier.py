"""The ``classifier`` extractor: a small CNN trained on the dataset's training split.

The standard way to score MNIST-like data offline. Trained once (``lgen classifier data=...`` or on
first use), cached under ``<cache_dir>/classifiers/`` with its validation accuracy and a fingerprint
(data content, architecture, training budget); a cache whose fingerprint differs is retrained.
Features: the ``widths[-1]``-d global-average-pooled activations; IS uses its logits.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from lightning_gen.errors import ConfigError
from lightning_gen.fileio import load_cache, save_cache
from lightning_gen.images import from_uint8
from lightning_gen.metrics.data import content_hash, dataset_name, key_of
from lightning_gen.metrics.extractor import FeatureExtractor, weights_checksum
from lightning_gen.rng import isolated_rng


class SmallCNN(nn.Module):
    """``(B, C, H, W)`` in ``[-1, 1]`` -> features ``(B, widths[-1])``; ``head`` gives ``(B, K)`` logits."""

    def __init__(
        self, in_channels: int, num_classes: int, widths: Sequence[int] = (32, 64, 128)
    ) -> None:
        super().__init__()
        layers, ch = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(ch, w, 3, 2, 1), nn.BatchNorm2d(w), nn.ReLU()]
            ch = w
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, K)


# Below this validation accuracy the classifier's features say little about image quality:
# FID/KID/precision/recall computed with them are warned about (LowAccuracyWarning).
LOW_ACCURACY = 0.5


class LowAccuracyWarning(UserWarning):
    """The feature classifier classifies its own validation split poorly."""


class ClassifierExtractor(FeatureExtractor):
    """A trained ``SmallCNN`` as an extractor; ``accuracy`` is its validation accuracy.

    Warns (``LowAccuracyWarning``) when ``accuracy < LOW_ACCURACY`` (0.5).
    """

    name = "classifier"

    def __init__(self, net: SmallCNN, accuracy: float, fingerprint: dict[str, Any]) -> None:
        super().__init__()
        self.net = net.eval()
        self.accuracy, self.fingerprint = float(accuracy), fingerprint
        if self.accuracy < LOW_ACCURACY:
            warnings.warn(
                f"the feature classifier for {fingerprint.get('dataset')} reaches only "
                f"{self.accuracy:.0%} validation accuracy (< {LOW_ACCURACY:.0%}): its FID/KID/"
                "precision/recall are weak; train it longer (metrics.extractor.epochs=...) or on "
                "more data (more images per class), or use metrics=inception",
                LowAccuracyWarning,
                stacklevel=2,
            )
        self.num_features = net.head.in_features

    def identity(self) -> dict[str, Any]:
        return {
            **super().identity(),
            "accuracy": round(self.accuracy, 4),
            "resize": "none (native size)",
        }

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.net.body(from_uint8(images).to(self.net.head.weight.device))  # (B, D)
        return feats.float(), self.net.head(feats).float()

    def train(self, mode: bool = True) -> ClassifierExtractor:
        return super().train(False)  # always in eval mode (BatchNorm statistics frozen)


def train_classifier(
    datamodule: Any, widths: Sequence[int], epochs: int, lr: float, batch_size: int, seed: int
) -> tuple[SmallCNN, float]:
    """Train a ``SmallCNN`` on the train split (plain loop, CPU-friendly); returns it and val accuracy."""
    c = datamodule.image_shape[0]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = SmallCNN(c, datamodule.num_classes, widths)
    x, y = _split_tensors(datamodule, "train")
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(max(1, len(x) // batch_size)):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    split = "val" if len(datamodule.splits.get("val", [])) else "train"
    xv, yv = _split_tensors(datamodule, split)
    with torch.no_grad():
        acc = float(torch.cat([net(b).argmax(1) for b in xv.split(512)]).eq(yv).float().mean())
    return net, acc


def _split_tensors(datamodule: Any, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*datamodule.split_dataloader(split, batch_size=512), strict=True)
    if any(y is None for y in ys):
        raise ConfigError(
            "the classifier extractor needs labelled data; use metrics=inception for unlabelled data"
        )
    return torch.cat(xs), torch.cat(ys)


class ClassifierSpec:
    """Config entry for the classifier extractor (``metrics=classifier``).

    ``train_if_missing=false`` makes a missing cache an error (e.g. on a cluster: run
    ``lgen classifier data=...`` once beforehand).
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128),
        epochs: int = 5,
        lr: float = 1e-2,
        batch_size: int = 64,
        seed: int = 0,
        train_if_missing: bool = True,
    ) -> None:
        self.widths, self.epochs, self.lr = list(widths), int(epochs), float(lr)
        self.batch_size, self.seed, self.train_if_missing = (
            int(batch_size),
            int(seed),
            train_if_missing,
        )

    def fingerprint(self, datamodule: Any) -> dict[str, Any]:
        """Everything the trained weights depend on (data content included)."""
        data_hash, n = content_hash(datamodule, "train")
        return {
            "dataset": dataset_name(datamodule),
            "image_shape": list(datamodule.image_shape),
            "num_classes": int(datamodule.num_classes),
            "train_hash": data_hash,
            "train_count": n,
            "widths": self.widths,
            "epochs": self.epochs,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }

    def path(self, fingerprint: dict[str, Any], cache_dir: str | Path) -> Path:
        c, h, w = fingerprint["image_shape"]
        return (
            Path(cache_dir)
            / "classifiers"
            / f"{fingerprint['dataset']}-{c}x{h}x{w}-{key_of(fingerprint)}.pt"
        )

    @isolated_rng()
    def build(
        self, datamodule: Any, cache_dir: str | Path, force: bool = False
    ) -> ClassifierExtractor:
        """Load the cached classifier for this data, or train and cache it (``force`` retrains).

        Leaves the global RNG states as it found them, cache hit or not (``isolated_rng``).
        """
        if int(getattr(datamodule, "num_classes", 0)) < 2:
            raise ConfigError(
                "the classifier extractor needs labelled data (>= 2 classes); use metrics=inception"
            )
        fp = self.fingerprint(datamodule)
        path = self.path(fp, cache_dir)
        saved = None if force else load_cache(path)  # None when missing or corrupt (warned)
        if saved is not None:
            if saved.get("fingerprint") == fp:
                net = SmallCNN(fp["image_shape"][0], fp["num_classes"], self.widths)
                net.load_state_dict(saved["state_dict"])
                if weights_checksum(net) == saved.get("checksum"):
                    return ClassifierExtractor(net, saved["accuracy"], fp)
            rank_zero_info(f"classifier cache {path} does not match this data/config; retraining")
        elif not self.train_if_missing and not force:
            raise ConfigError(
                f"no trained classifier at {path}; run `lgen classifier data=<this data>` once, "
                "or set metrics.extractor.train_if_missing=true"
            )
        t0 = time.perf_counter()
        net, acc = train_classifier(
            datamodule, self.widths, self.epochs, self.lr, self.batch_size, self.seed
        )
        save_cache(  # atomic + fsync + checksum
            {
                "state_dict": net.state_dict(),
                "accuracy": acc,
                "fingerprint": fp,
                "checksum": weights_checksum(net),
            },
            path,
        )
        rank_zero_info(
            f"classifier trained in {time.perf_counter() - t0:.1f}s: val accuracy {acc:.4f}, cached at {path}"
        )
        return ClassifierExtractor(net, acc, fp)
