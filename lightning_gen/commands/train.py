"""``lgen train``: seed, instantiate data/model/callbacks/loggers/trainer from config, fit, test.

Run folder (``paths.output_dir``): ``config.yaml`` (resolved), ``checkpoints/{best,last}.ckpt``,
``metrics.json``, ``images/*.png`` and the loggers' folders.

Reliability (``lightning_gen.reliability``): the run folder is locked for the run, checkpoints are
written atomically and read with ``weights_only``, carry RNG states and the train loader's position
for an exact resume, and ``resume=<run dir | .ckpt>`` continues in the same run folder and logger runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import yaml
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from lightning_gen.cli_errors import user_errors
from lightning_gen.config_check import check_config
from lightning_gen.errors import ConfigError
from lightning_gen.fileio import atomic_write
from lightning_gen.reliability.checkpoint_io import AtomicCheckpointIO, load_checkpoint
from lightning_gen.reliability.compat import check_compatible
from lightning_gen.reliability.loggers import resume_logger_overrides
from lightning_gen.reliability.run_dir import (
    RunLock,
    check_writable,
    resume_checkpoint,
    resume_run_dir,
)
from lightning_gen.reliability.signals import GracefulStop
from lightning_gen.reliability.state import RunState

# the run folder that `main` locked before Hydra started (train() then does not lock it again)
_locked_by_main: Path | None = None


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry with a ``_target_`` in a named group (callbacks, loggers); skip nulls.

    Weight-averaging callbacks go last so that anything sampling at validation end does so with
    the averaged weights before they are swapped back; ``GracefulStop`` after them, so that the
    checkpoint it saves at a batch end includes that batch's weight-average update.
    """
    objs = [
        hydra.utils.instantiate(c, _convert_="all")
        for c in (group or {}).values()
        if c is not None and "_target_" in c
    ]

    def order(o: Any) -> int:
        return 2 if isinstance(o, GracefulStop) else int(_is_weight_averaging(o))

    return sorted(objs, key=order)  # stable: config order within each rank


def build_model(model_cfg: DictConfig, datamodule: L.LightningDataModule) -> L.LightningModule:
    """Instantiate the model with what the data says: ``datamodule.model_kwargs()`` where the data
    has it (text: vocab size, tokenizer), else ``image_shape`` and ``num_classes``."""
    if model_cfg is None or "_target_" not in model_cfg:
        raise ConfigError("no model chosen: pass model=<name> (see `lgen train --help`)")
    if hasattr(datamodule, "model_kwargs"):
        kwargs = datamodule.model_kwargs()
    else:
        kwargs = {
            "image_shape": list(datamodule.image_shape),
            "num_classes": datamodule.num_classes,
        }
    return hydra.utils.instantiate(model_cfg, **kwargs, _convert_="all")


def resolve_resume(resume: str | None) -> str | None:
    """A checkpoint path from ``resume`` (a run folder or a ``.ckpt``); None to start fresh."""
    path = resume_checkpoint(resume)
    return None if path is None else str(path)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one experiment from a composed config; returns the final logged metrics.

    Raises ``ConfigError`` / ``DataError`` / ``CheckpointError`` for bad input before anything in the
    run folder is overwritten, ``RunInterrupted`` after a stop signal (checkpoint saved) and
    ``DivergenceError`` on a non-finite loss (last good checkpoint kept).
    """
    check_config(cfg)
    out = check_writable(cfg.paths.output_dir)
    if _locked_by_main is not None and out.resolve() == _locked_by_main:
        return _train_locked(cfg, out)
    with RunLock(out):
        return _train_locked(cfg, out)


def _train_locked(cfg: DictConfig, out: Path) -> dict[str, float]:
    ckpt_path = resolve_resume(cfg.get("resume"))
    ckpt = load_checkpoint(ckpt_path) if ckpt_path else None
    L.seed_everything(cfg.seed, workers=True)

    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = build_model(cfg.model, datamodule)
    if ckpt is not None:
        check_compatible(ckpt, model, ckpt_path)
        resume_logger_overrides(
            cfg.get("logger"), int(ckpt.get("global_step", 0)), ckpt.get("lgen", {}).get("wandb_id")
        )
    # only now that data, model and checkpoint are known to be good: nothing saved is overwritten before
    with atomic_write(out / "config.yaml") as f:
        f.write(OmegaConf.to_yaml(cfg, resolve=True))
    callbacks = [RunState(), *instantiate_group(cfg.get("callbacks"))]
    loggers = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        _raise_if_stopped(callbacks)
        raise
    _raise_if_stopped(
        callbacks
    )  # a signal during the very last batch: fit ended, skip the test stage
    if cfg.get("test"):
        run_test(
            trainer, model, datamodule, averaging=any(_is_weight_averaging(c) for c in callbacks)
        )
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def _is_weight_averaging(obj: Any) -> bool:
    return type(obj).__name__.endswith("WeightAveraging")


def run_test(
    trainer: L.Trainer, model: L.LightningModule, datamodule: L.LightningDataModule, averaging: bool
) -> None:
    """Test the best checkpoint's weights (the averaged ones for EMA runs), else the current model.

    With a weight-averaging callback, Lightning's ``ckpt_path="best"`` would put the raw weights
    (``current_model_state``) back over the averaged ``state_dict``; so the averaged weights are
    loaded here and the model is tested as it is.
    """
    ckpt_cb = trainer.checkpoint_callback
    best = getattr(ckpt_cb, "best_model_path", "") if ckpt_cb is not None else ""
    if best and averaging:
        model.load_state_dict(load_checkpoint(best)["state_dict"])
        trainer.test(model, datamodule=datamodule)
    else:
        trainer.test(
            model, datamodule=datamodule, ckpt_path="best" if best else None, weights_only=True
        )


def _raise_if_stopped(callbacks: list[Any]) -> None:
    """Re-raise the ``RunInterrupted`` of a ``GracefulStop`` that saved a checkpoint on a signal."""
    stopped = [c.interrupted for c in callbacks if isinstance(c, GracefulStop) and c.interrupted]
    if stopped:
        raise stopped[0] from None


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def original_overrides(run_dir: Path, given: list[str]) -> list[str]:
    """The overrides the run was started with (``.hydra/overrides.yaml``) that ``given`` does not set again."""
    f = run_dir / ".hydra" / "overrides.yaml"
    if not f.is_file():
        return []
    # a value set again now replaces the original (also inside a node set now); a deletion
    # (~node) given now keeps the original additions so that Hydra has something to delete
    keys = {_override_key(a) for a in given if not a.startswith("~")} | {"resume", "hydra.run.dir"}

    def overridden(key: str) -> bool:
        return any(key == k or key.startswith(k + ".") for k in keys)

    return [o for o in (yaml.safe_load(f.read_text()) or []) if not overridden(_override_key(o))]


def with_resume_run_dir(argv: list[str]) -> list[str]:
    """For ``resume=<run dir | ckpt>``: continue in that run folder with the run's own overrides.

    The run's original command-line overrides are applied first, so ``lgen train resume=<run>``
    alone continues the same experiment; overrides given now take precedence.
    """
    resume = next((a.split("=", 1)[1] for a in argv if a.startswith("resume=")), None)
    if (
        not resume
        or resume == "null"
        or any(a.startswith(("hydra.run.dir=", "-m", "--multirun")) for a in argv)
    ):
        return argv
    run_dir = Path(resume_run_dir(resume)).resolve()
    return [*original_overrides(run_dir, argv), *argv, f"hydra.run.dir={run_dir}"]


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="train", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | None:
    with user_errors():
        metrics = train(cfg)
    monitor = cfg.get("optimized_metric")
    return metrics.get(monitor) if monitor else None


def fixed_run_dir(argv: list[str]) -> Path | None:
    """The run folder given literally as ``hydra.run.dir=...`` (where two runs could meet), else None."""
    value = next((a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")), None)
    if value is None or "${" in value:
        return None
    # Lightning's DDP launcher passes hydra.run.dir="<dir>" (quoted, for Hydra's parser)
    return Path(value.strip("'\""))


def main() -> float | None:
    """Hydra entry point (``lgen train`` / ``python -m lightning_gen.commands.train``).

    A fixed run folder (``hydra.run.dir=`` or ``resume=``) is locked before Hydra writes into it,
    so a second run started there fails without touching the first one's files.
    """
    argv = with_resume_run_dir(sys.argv[1:])
    sys.argv = [sys.argv[0], *argv]
    run_dir = fixed_run_dir(argv)
    if run_dir is None:
        return _hydra_main()
    global _locked_by_main
    with user_errors():
        lock = RunLock(check_writable(run_dir)).acquire()
    _locked_by_main = run_dir.resolve()
    try:
        return _hydra_main()
    finally:
        _locked_by_main = None
        lock.release()


if __name__ == "__main__":
    main()
