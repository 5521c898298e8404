"""GenerationMetrics in a real Trainer, the reference cache (hit, stale rebuild), classifier, configs."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch

from lightning_gen.callbacks.generation import GenerationMetrics
from lightning_gen.data import ImageDataModule
from lightning_gen.data.bundled import SklearnDigits
from lightning_gen.errors import ConfigError
from lightning_gen.fileio import CacheWarning, load_cache, save_cache
from lightning_gen.metrics.classifier import ClassifierSpec
from lightning_gen.metrics.inception import InceptionSpec
from lightning_gen.metrics.protocol import GenerationProtocol, protocol_key
from lightning_gen.metrics.reference import ReferenceCache
from lightning_gen.metrics.sampling import sample_features
from lightning_gen.vae.module import VAE
from tests.helpers.metrics_helpers import ProjectionExtractor, ReplaySampler, make_protocol

KEYS = ["fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall"]


def digits(limit: int = 400) -> ImageDataModule:
    dm = ImageDataModule(SklearnDigits(image_size=8), batch_size=32, limit=limit, seed=0)
    dm.setup()
    return dm


def fit(
    tmp_path, extractor, epochs: int = 1, every: int = 1
) -> tuple[L.Trainer, GenerationMetrics]:
    dm = digits()
    model = VAE([1, 8, 8], 10, latent_dim=4, widths=[8, 16])
    protocol = make_protocol(
        extractor, num_samples=200, chunk_size=50, kid_subsets=10, kid_subset_size=100
    )
    cb = GenerationMetrics(protocol, cache_dir=str(tmp_path / "cache"), every_n_epochs=every)
    trainer = L.Trainer(
        default_root_dir=tmp_path / "run",
        max_epochs=epochs,
        limit_train_batches=3,
        limit_val_batches=1,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    return trainer, cb


def test_callback_logs_all_metrics_in_fit_and_reuses_the_cache(tmp_path):
    ext = ProjectionExtractor((1, 8, 8))
    trainer, cb = fit(tmp_path, ext, epochs=2)
    values = {k: float(trainer.callback_metrics[f"val/{k}"]) for k in KEYS}
    assert all(torch.isfinite(torch.tensor(list(values.values())))), values
    assert values["fid"] > 0 and 0 <= values["precision"] <= 1 and 0 <= values["recall"] <= 1
    assert 1 <= values["is_mean"] <= 10
    assert cb.cache.built == 1 and not cb.reference.from_cache and cb.reference.count == 320
    # reference extracted once (320 images / 256 per batch = 2 calls), then 4 chunks per epoch x 2
    assert ext.calls == 2 + 2 * 4 and ext.images == 320 + 2 * 200
    lines = (tmp_path / "run" / "generation_metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    assert len(lines) == 2 and record["protocol"]["num_samples"] == 200
    assert record["values"]["val/fid"] == pytest.approx(values["fid"], rel=1e-5)
    assert record["source"] == "callback" and record["global_step"] == 6 and record["epoch"] == 1
    assert record["protocol"]["sampling"] == {}  # a VAE has no sampling options
    assert (
        record["protocol_key"] == protocol_key(record["protocol"])
        and len(record["protocol_key"]) == 16
    )
    assert (
        record["protocol"]["extractor"]["name"] == "projection" and record["protocol"]["seed"] == 0
    )
    assert (
        record["protocol"]["extractor"]["checksum"]
        and record["protocol"]["stats_dtype"] == "float64"
    )
    # second run, same cache: no re-extraction of the real data, only the 4 generated chunks
    ext2 = ProjectionExtractor((1, 8, 8))
    trainer2, cb2 = fit(tmp_path, ext2, epochs=1, every=5)
    assert cb2.reference.from_cache and cb2.cache.built == 0
    assert (
        ext2.calls == 0 and "val/fid" not in trainer2.callback_metrics
    )  # epoch 1 of every 5: not scored
    trainer2.validate(
        trainer2.lightning_module, datamodule=trainer2.datamodule
    )  # validate always scores
    assert ext2.calls == 4 and ext2.images == 200 and "val/fid" in trainer2.callback_metrics


def test_stale_or_mismatched_cache_is_rebuilt(tmp_path, caplog):
    ext, cache = ProjectionExtractor((1, 8, 8)), ReferenceCache(tmp_path)
    ref = cache.get(digits(), ext)
    path = next((tmp_path / "reference").glob("*.pt"))
    assert cache.get(digits(), ext).from_cache and cache.built == 1
    # the data changed under the same protocol (fewer images): same file, detected and rebuilt
    smaller = cache.get(digits(limit=390), ext)
    assert not smaller.from_cache and cache.built == 2 and smaller.count == 312
    assert next((tmp_path / "reference").glob("*.pt")) == path
    # an edited file (features changed, fingerprint kept) fails its checksum and is rebuilt
    blob = load_cache(path)
    blob["features"][0] += 1.0
    save_cache(blob, path)
    again = cache.get(digits(limit=390), ext)
    assert not again.from_cache and cache.built == 3
    torch.testing.assert_close(again.mean, smaller.mean)
    # a truncated file (a kill mid-copy) fails the file checksum: warned, removed and rebuilt
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(CacheWarning, match="checksum mismatch"):
        assert not cache.get(digits(limit=390), ext).from_cache and cache.built == 4
    # a different extractor (weights) is a different protocol: its own file, never the other's stats
    other = ProjectionExtractor((1, 8, 8), num_features=8)
    assert (
        cache.get(digits(), other).features.shape[1] == 8
        and len(list((tmp_path / "reference").glob("*.pt"))) == 2
    )
    assert ref.mean.dtype == torch.float64 and ref.cov.shape == (16, 16)


def test_conditional_models_are_sampled_with_the_label_distribution():
    bank = torch.rand(50, 1, 8, 8) * 2 - 1
    model, ext = ReplaySampler(bank), ProjectionExtractor((1, 8, 8))
    weights = torch.tensor([1.0, 0, 0, 3.0])
    feats, logits = sample_features(model, ext, 4000, chunk_size=500, seed=3, label_weights=weights)
    labels = torch.cat(model.seen_labels)
    assert feats.shape == (4000, 16) and logits.shape == (4000, 10) and len(labels) == 4000
    assert set(labels.tolist()) == {0, 3} and abs((labels == 3).float().mean().item() - 0.75) < 0.03
    again, _ = sample_features(
        ReplaySampler(bank), ext, 4000, chunk_size=500, seed=3, label_weights=weights
    )
    other, _ = sample_features(
        ReplaySampler(bank), ext, 4000, chunk_size=500, seed=4, label_weights=weights
    )
    assert torch.equal(feats, again) and not torch.equal(feats, other)


def test_classifier_extractor_trains_once_and_is_cached(tmp_path, monkeypatch):
    dm = digits(limit=None)
    spec = ClassifierSpec(widths=[8, 16, 32], epochs=4, lr=1e-2, batch_size=64)
    ext = spec.build(dm, tmp_path)
    assert ext.accuracy > 0.8 and ext.num_features == 32
    feats, logits = ext(torch.zeros(3, 1, 8, 8, dtype=torch.uint8))
    assert feats.shape == (3, 32) and logits.shape == (3, 10)
    import lightning_gen.metrics.classifier as clf

    def no_training(*a, **k):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(clf, "train_classifier", no_training)
    cached = spec.build(dm, tmp_path)
    assert (
        cached.accuracy == ext.accuracy
        and cached.identity()["checksum"] == ext.identity()["checksum"]
    )
    with pytest.raises(ConfigError, match="lgen classifier"):
        ClassifierSpec(epochs=1, train_if_missing=False).build(dm, tmp_path)


def test_inception_without_torch_fidelity_says_how_to_get_it(tmp_path):
    with pytest.raises(ConfigError, match="torch-fidelity.*metrics=classifier"):
        InceptionSpec().build(digits(), tmp_path)
    with pytest.raises(ConfigError, match="resize"):
        InceptionSpec(resize="bicubic")


def test_generation_config_composes_and_instantiates():
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    with initialize_config_module("lightning_gen.configs", version_base="1.3"):
        cfg = compose("train", overrides=["callbacks=generation", "paths.output_dir=/tmp/x"])
        cb = instantiate(cfg.callbacks.generation_metrics, _convert_="all")
        assert isinstance(cb, GenerationMetrics) and isinstance(cb.protocol, GenerationProtocol)
        assert isinstance(cb.protocol.extractor, ClassifierSpec) and cb.protocol.num_samples == 2000
        # the callback config relays nothing: the protocol is the metrics group, handed over whole
        assert set(cfg.callbacks.generation_metrics) == {
            "_target_",
            "protocol",
            "cache_dir",
            "every_n_epochs",
            "on_test",
            "strict",
        }
        # debug=smoke shrinks the metrics group itself: the saved config says what is drawn
        cfg = compose(
            "train", overrides=["callbacks=generation", "debug=smoke", "paths.output_dir=/x"]
        )
        cb = instantiate(cfg.callbacks.generation_metrics, _convert_="all")
        assert cfg.metrics.num_samples == cb.protocol.num_samples == 64
        assert cfg.metrics.kid_subset_size == cb.protocol.kid_subset_size == 32
        cfg = compose(
            "train", overrides=["callbacks=generation", "metrics=inception", "paths.output_dir=/x"]
        )
        cb = instantiate(cfg.callbacks.generation_metrics, _convert_="all")
        assert isinstance(cb.protocol.extractor, InceptionSpec) and cb.protocol.num_samples == 10000


def test_inception_wiring_with_an_injected_network(tmp_path, monkeypatch):
    """torch-fidelity is not installed here: inject a stand-in for its network, check our wiring."""
    import hashlib

    import lightning_gen.metrics.inception as inc

    seen = {}

    class FakeInception(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path, antialias):
            super().__init__()
            seen.update(
                features=features_list, path=feature_extractor_weights_path, antialias=antialias
            )

        def forward(self, x):
            seen["input"] = (x.dtype, tuple(x.shape))
            return torch.ones(len(x), 2048), torch.zeros(len(x), 1008)

    monkeypatch.setattr(inc, "_import_fidelity", lambda: FakeInception)
    with pytest.raises(
        ConfigError, match="weights_path=.*missing.pth.*pass metrics.extractor.weights_path"
    ):
        InceptionSpec(weights_path=str(tmp_path / "missing.pth")).build(None, tmp_path)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"fake weights")
    ext = InceptionSpec(weights_path=str(weights)).build(None, tmp_path)
    feats, logits = ext(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    assert (
        seen["input"] == (torch.uint8, (2, 3, 28, 28)) and seen["antialias"] is False
    )  # tf1x resize
    assert (
        seen["features"] == ["2048", "logits_unbiased"]
        and feats.shape == (2, 2048)
        and logits.shape == (2, 1008)
    )
    ident = ext.identity()
    assert (
        ident["resize"] == "tf1x"
        and ident["checksum"] == hashlib.sha256(b"fake weights").hexdigest()[:16]
    )
    InceptionSpec(weights_path=str(weights), resize="antialias").build(None, tmp_path)
    assert seen["antialias"] is True


def test_diffusion_record_names_sampler_and_steps(tmp_path):
    """The sampling options decide a diffusion model's FID: they are applied and recorded."""
    from lightning_gen.diffusion.module import DiffusionModel
    from lightning_gen.diffusion.samplers import DDIM

    dm = digits()
    model = DiffusionModel([1, 8, 8], 10, timesteps=20, widths=[8, 16], sampler=DDIM(steps=10))
    calls = []
    forward = model.net.forward
    model.net.forward = lambda *a: calls.append(1) or forward(*a)
    sampling = {"sampler": {"_target_": "lightning_gen.diffusion.samplers.DDPM", "steps": 3}}
    protocol = make_protocol(
        ProjectionExtractor((1, 8, 8)),
        num_samples=20,
        chunk_size=10,
        kid_subset_size=10,
        kid_subsets=2,
        sampling=sampling,
    )
    cb = GenerationMetrics(protocol, cache_dir=str(tmp_path / "cache"), on_test=False)
    trainer = L.Trainer(
        default_root_dir=tmp_path / "run",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.validate(model, datamodule=dm)
    record = json.loads((tmp_path / "run" / "generation_metrics.jsonl").read_text())
    assert record["protocol"]["sampling"] == {
        "sampler": {
            "_target_": "lightning_gen.diffusion.samplers.DDPM",
            "steps": 3,
            "spacing": "linspace",
        }
    }
    assert len(calls) == 2 * 3 + 1  # 2 chunks x 3 steps, + the validation loss batch
    bad = make_protocol(ProjectionExtractor((1, 8, 8)), sampling={"temperature": 0.5})
    with pytest.raises(
        ConfigError, match="metrics.sampling: unknown sampling option 'temperature'"
    ):
        GenerationMetrics(bad, cache_dir=str(tmp_path / "cache")).setup(trainer, model, "validate")
