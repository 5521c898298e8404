"""The benchmark scripts run with ``--quick`` and write well-formed JSON; ``make_table`` renders it.

Behaviour only: the figures themselves are measurements, never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from benchmarks import make_table


def run_main(module, argv: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [module.__name__, *argv])
    module.main()


def is_ratio(s: dict) -> bool:
    return set(s) == {"min", "median", "max"} and 0 < s["min"] <= s["median"] <= s["max"]


def test_framework_overhead_quick_writes_ratios_per_family(tmp_path, monkeypatch):
    from benchmarks import framework_overhead

    out = tmp_path / "framework_overhead.json"
    run_main(
        framework_overhead,
        ["--quick", "--families", "autoencoder", "--json", str(out)],
        monkeypatch,
    )
    r = json.loads(out.read_text())
    assert r["benchmark"] == "framework_overhead" and r["machine"]["cores"] >= 1
    fam = r["families"]["autoencoder"]
    assert is_ratio(fam["ratio_plain_over_lgen"])
    assert 0 < fam["validation_share"] < 1 and fam["lgen_step_s"] > 0
    assert fam["validation_s"] > 0 and fam["fit_end_s"] > 0  # the end of fit is kept apart
    assert 0 < fam["validation_step_share"] < fam["validation_share"]  # the model's own forward
    assert fam["framework_share"] == pytest.approx(
        fam["validation_share"] - fam["validation_step_share"]
    )


def test_framework_overhead_applies_and_records_the_perf_options(tmp_path, monkeypatch, capsys):
    from benchmarks import framework_overhead

    out = tmp_path / "framework_overhead.json"
    args = ["--quick", "--families", "vae", "--json", str(out), "perf.channels_last=true"]
    run_main(framework_overhead, [*args, "perf.fused_optimizer=true"], monkeypatch)
    printed = capsys.readouterr().out
    assert "channels_last=on" in printed and "fused_optimizer=AdamW" in printed
    fam = json.loads(out.read_text())["families"]["vae"]
    assert fam["perf"]["channels_last"] and fam["perf"]["fused_optimizer"]
    assert fam["lgen_images_per_s"] > 0


def test_framework_overhead_finds_every_model_config():
    from benchmarks.framework_overhead import NEEDS_CHECKPOINT, families

    found = families()
    assert {"autoencoder", "vae", "dcgan", "wgan_gp", "ddpm"} <= set(found)
    assert found["dcgan"] == ["experiment=dcgan_mnist"]
    assert set(NEEDS_CHECKPOINT) <= set(found)


def test_framework_overhead_rejects_an_unknown_family(monkeypatch):
    from benchmarks import framework_overhead

    with pytest.raises(SystemExit, match="unknown .*nope"):
        run_main(framework_overhead, ["--quick", "--families", "nope"], monkeypatch)


def test_samplers_quick_writes_ratios_or_says_diffusers_is_missing(tmp_path, monkeypatch, capsys):
    from benchmarks import samplers

    out = tmp_path / "samplers.json"
    try:
        run_main(samplers, ["--quick", "--json", str(out)], monkeypatch)
    except SystemExit as e:
        assert e.code == 0
    r = json.loads(out.read_text())
    if importlib.util.find_spec("diffusers") is None:
        assert (
            "pip install" in r["missing"]
            and "diffusers is not installed" in capsys.readouterr().out
        )
    else:
        assert set(r["samplers"]) == {"ddim", "ddpm", "dpm_solver"}
        assert all(is_ratio(s["ratio_diffusers_over_project"]) for s in r["samplers"].values())
        assert all(  # the samplers' own arithmetic, timed with a null network
            min(s["overhead_us_per_step"].values()) > 0 for s in r["samplers"].values()
        )


def test_data_throughput_quick_writes_images_per_second(tmp_path, monkeypatch):
    from benchmarks import data_throughput

    out = tmp_path / "data_throughput.json"
    run_main(data_throughput, ["--quick", "--json", str(out)], monkeypatch)
    (e,) = json.loads(out.read_text())["experiments"].values()
    assert e["loader_images_per_s"] > 0 and e["train_images_per_s"] > 0
    assert is_ratio(e["ratio_loader_over_train"])


@pytest.mark.slow
def test_metric_cost_quick_writes_cold_warm_and_memory(tmp_path, monkeypatch):
    from benchmarks import metric_cost

    out = tmp_path / "metric_cost.json"
    run_main(metric_cost, ["--quick", "--json", str(out)], monkeypatch)
    r = json.loads(out.read_text())
    assert r["cold"]["setup_s"] > 0 and r["warm"]["metric_per_val_epoch_s"] > 0
    assert [m["num_samples"] for m in r["memory"]] == [64, 128]


def test_metric_state_memory_grows_with_samples():
    from benchmarks.metric_cost import memory_vs_samples

    small, large = memory_vs_samples(16, 64, [64, 512])
    assert large["state_mb"] > small["state_mb"] > 0


def test_make_table_writes_the_readme_block_with_the_machine(tmp_path):
    machine = {"cpu": "Test CPU", "cores": 2, "torch_threads": 1, "torch": "x"}
    ratio = {"min": 0.9, "median": 1.0, "max": 1.1}
    (tmp_path / "samplers.json").write_text(
        json.dumps(
            {
                "machine": machine,
                "samplers": {"ddim": {"ratio_diffusers_over_project": ratio}},
                "timesteps": 20,
                "ddim_steps": 5,
                "batch": 2,
                "widths": [8],
            }
        )
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{make_table.START}\nold\n{make_table.END}\ntail\n")
    make_table.write_readme(readme, make_table.table(tmp_path))
    text = readme.read_text()
    assert "old" not in text and text.endswith("tail\n")
    assert "Test CPU, 2 cores" in text and "| ddim | 0.90 / 1.00 / 1.10 |" in text
    assert "framework_overhead: no results yet" in text


def test_make_table_names_missing_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="perf-table:start"):
        make_table.write_readme(readme, "table\n")


def test_framework_overhead_builds_every_family_it_does_not_skip(tmp_path):
    """A family whose model cannot be built from its experiment alone (it needs a trained
    checkpoint) must be listed in NEEDS_CHECKPOINT, or a run over all families stops there."""
    import hydra

    from benchmarks.framework_overhead import NEEDS_CHECKPOINT, compose_cfg, families
    from lightning_gen.instantiate import build_model

    for name, overrides in families().items():
        if name in NEEDS_CHECKPOINT:
            continue
        cfg = compose_cfg(overrides, str(tmp_path / name), [])
        dm = hydra.utils.instantiate(cfg.data, _convert_="all")
        dm.prepare_data()
        dm.setup("fit")
        assert build_model(cfg.model, dm) is not None, name
