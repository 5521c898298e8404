"""The ``inception`` extractor: torch-fidelity's InceptionV3 (FID weights), for paper-comparable numbers.

Optional (``pip install 'lightning-gen[inception]'``): imported only when chosen. Weights come from
torch-fidelity's cache or ``weights_path``; when neither is available the error says how to provide
them. ``resize`` picks how images reach 299x299: ``tf1x`` is the bilinear resize of the original
TensorFlow FID code (paper-compatible; torchmetrics >= 1.8 antialiases by default, which changes FID),
``antialias`` is torchmetrics' default. Grayscale images are repeated to 3 channels.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from lightning_gen.errors import ConfigError
from lightning_gen.metrics.extractor import FeatureExtractor

RESIZE_MODES = {"tf1x": False, "antialias": True}  # resize -> torchmetrics' `antialias` flag
INSTALL_HINT = (
    "install the optional extra (`pip install -c constraints.txt 'lightning-gen[inception]'`, GPU machines) "
    "or choose metrics=classifier"
)


def file_checksum(path: str | Path) -> str:
    """sha256 (first 16 hex digits) of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _import_fidelity() -> Any:
    try:
        import torch_fidelity  # noqa: F401
        from torchmetrics.image.fid import NoTrainInceptionV3
    except ImportError as exc:
        raise ConfigError(
            f"metrics=inception needs torch-fidelity, which is not installed ({exc}); {INSTALL_HINT}"
        ) from exc
    return NoTrainInceptionV3


def _cached_weights() -> Path | None:
    """torch-fidelity's downloaded FID weights in torch hub's checkpoint folder, if present."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(folder.glob("weights-inception-2015-12-05-*.pth")) if folder.is_dir() else []
    return found[0] if found else None


class InceptionExtractor(FeatureExtractor):
    """2048-d pool features and 1008-way logits of the FID InceptionV3 for ``uint8`` images."""

    name = "inception"
    num_features = 2048

    def __init__(self, weights_path: str | Path, resize: str = "tf1x") -> None:
        super().__init__()
        net_cls = _import_fidelity()
        self.weights_path, self.resize = str(weights_path), resize
        self.net = net_cls(
            name="inception-v3-compat",
            features_list=["2048", "logits_unbiased"],
            feature_extractor_weights_path=self.weights_path,
            antialias=RESIZE_MODES[resize],
        )
        self._checksum = file_checksum(weights_path)

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checksum": self._checksum,
            "num_features": 2048,
            "resize": self.resize,
        }

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        feats, logits = self.net(images)
        return feats.float(), logits.float()


class InceptionSpec:
    """Config entry for ``metrics=inception``: ``weights_path`` (or torch-fidelity's cache) and ``resize``."""

    def __init__(self, weights_path: str | None = None, resize: str = "tf1x") -> None:
        if resize not in RESIZE_MODES:
            raise ConfigError(
                f"metrics.extractor.resize={resize!r}; choose one of {sorted(RESIZE_MODES)}"
            )
        self.weights_path, self.resize = weights_path, resize

    def build(self, datamodule: Any, cache_dir: str | Path) -> InceptionExtractor:
        """Import torch-fidelity and load the weights (never downloads); clear errors otherwise."""
        _import_fidelity()
        path = Path(self.weights_path) if self.weights_path else _cached_weights()
        if path is None or not path.is_file():
            where = (
                f"metrics.extractor.weights_path={self.weights_path}"
                if self.weights_path
                else "torch-fidelity's cache"
            )
            raise ConfigError(
                f"no InceptionV3 FID weights found in {where}; download "
                "pt_inception-2015-12-05-6726825d.pth (github.com/toshas/torch-fidelity/releases) on a machine "
                "with internet and pass metrics.extractor.weights_path=<file>, or choose metrics=classifier"
            )
        return InceptionExtractor(path, self.resize)
