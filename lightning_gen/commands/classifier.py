"""``lgen classifier data=...``: train (or find) the classifier feature extractor of a dataset.

Trains the small CNN of ``metrics=classifier`` on the data's training split and caches it under
``paths.cache_dir`` with its validation accuracy, so later runs and ``lgen evaluate`` reuse it.
``force=true`` retrains.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from lightning_gen.cli_errors import user_errors
from lightning_gen.errors import ConfigError
from lightning_gen.metrics.classifier import ClassifierExtractor, ClassifierSpec


def build_classifier(cfg: DictConfig) -> ClassifierExtractor:
    """Load or train the classifier described by ``cfg.metrics.extractor`` for ``cfg.data``."""
    spec = hydra.utils.instantiate(cfg.metrics.extractor, _convert_="all")
    if not isinstance(spec, ClassifierSpec):
        raise ConfigError("lgen classifier trains the classifier extractor; use metrics=classifier")
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    ext = spec.build(dm, cfg.paths.cache_dir, force=bool(cfg.get("force")))
    path = spec.path(ext.fingerprint, cfg.paths.cache_dir)
    print(
        f"classifier for {ext.fingerprint['dataset']}: val accuracy {ext.accuracy:.4f}, "
        f"checksum {ext.identity()['checksum']}, at {path}"
    )
    return ext


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="classifier", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (``lgen classifier``)."""
    with user_errors():
        build_classifier(cfg)


if __name__ == "__main__":
    main()
