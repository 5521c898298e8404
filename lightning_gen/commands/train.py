"""``lgen train``: seed, instantiate data/model/callbacks/loggers/trainer from config, fit, test.

Run folder (``paths.output_dir``): ``config.yaml`` (resolved), ``checkpoints/{best,last}.ckpt``,
``metrics.json``, ``images/*.png`` and the loggers' folders.

Reliability (``lightning_gen.reliability``): the run folder is locked for the run, checkpoints are
written atomically and read with ``weights_only``, carry RNG states and the train loader's position
for an exact resume, and ``resume=<run dir | .ckpt>`` continues in the same run folder and logger runs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from lightning_gen.checkpoints import announce_checkpoint
from lightning_gen.cli_errors import user_errors
from lightning_gen.config_check import check_config
from lightning_gen.fileio import atomic_write
from lightning_gen.instantiate import (
    build_model,
    instantiate_group,
    is_weight_averaging,
    perf_callbacks,
)
from lightning_gen.loggers import log_config
from lightning_gen.reliability.checkpoint_io import AtomicCheckpointIO, load_checkpoint
from lightning_gen.reliability.compat import check_compatible
from lightning_gen.reliability.failure import JobFailed, record_failure
from lightning_gen.reliability.loggers import resume_logger_overrides
from lightning_gen.reliability.resume import fixed_run_dir, resume_value, with_resume_run_dir
from lightning_gen.reliability.run_dir import (
    RestoreOnFailure,
    RunLock,
    announce_run_folder,
    check_writable,
    launched_rank,
    refuse_finished_run,
    resume_checkpoint,
)
from lightning_gen.reliability.signals import GracefulStop
from lightning_gen.reliability.state import RunState
from lightning_gen.strategies import end_job


def resolve_resume(resume: str | None) -> str | None:
    """A checkpoint path from ``resume`` (a run folder or a ``.ckpt``); None to start fresh."""
    path = resume_checkpoint(resume)
    return None if path is None else str(path)


def train(cfg: DictConfig, locked: Path | None = None) -> dict[str, float]:
    """Run one experiment from a composed config; returns the final logged metrics.

    The run folder is locked for the run, unless it is ``locked`` (already locked by the caller:
    ``main`` locks a fixed folder before Hydra writes into it).
    Raises ``ConfigError`` / ``DataError`` / ``CheckpointError`` for bad input before anything in the
    run folder is overwritten, ``RunInterrupted`` after a stop signal (checkpoint saved) and
    ``DivergenceError`` on a non-finite loss (last good checkpoint kept).
    """
    check_config(cfg)
    out = check_writable(cfg.paths.output_dir)
    if locked is not None and out.resolve() == locked.resolve():
        return _train_locked(cfg, out)
    with RunLock(out):
        return _train_locked(cfg, out)


def _train_locked(cfg: DictConfig, out: Path) -> dict[str, float]:
    ckpt_path = resolve_resume(cfg.get("resume"))
    ckpt = load_checkpoint(ckpt_path) if ckpt_path else None
    announce_run_folder(out, "resuming" if ckpt is not None else "starting")
    if ckpt is not None:
        announce_checkpoint(Path(ckpt_path), ckpt, "resuming from")
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
    if launched_rank() == 0:
        with atomic_write(out / "config.yaml") as f:
            f.write(OmegaConf.to_yaml(cfg, resolve=True))
    callbacks = [RunState(), *instantiate_group(cfg.get("callbacks")), *perf_callbacks(cfg)]
    loggers = instantiate_group(cfg.get("logger"), "logger")
    log_config(loggers, cfg)
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )

    try:
        _fit_and_test(cfg, trainer, model, datamodule, ckpt_path, callbacks)
    finally:  # DDP: ranks done, process group gone; the next job of a sweep starts afresh
        end_job(trainer)
    announce_run_folder(out, "finished")
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def _fit_and_test(
    cfg: DictConfig,
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: L.LightningDataModule,
    ckpt_path: str | None,
    callbacks: list[Any],
) -> None:
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        _raise_if_stopped(callbacks)
        raise
    _raise_if_stopped(callbacks)  # a signal during the very last batch: fit ended, skip the test
    if cfg.get("test"):
        run_test(
            trainer, model, datamodule, averaging=any(is_weight_averaging(c) for c in callbacks)
        )


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


def hydra_app(locked: Path | None = None) -> Callable[[], float | None]:
    """The Hydra app of ``lgen train``; ``locked``: a run folder the caller holds the lock of."""

    @hydra.main(config_path="pkg://lightning_gen.configs", config_name="train", version_base="1.3")
    def app(cfg: DictConfig) -> float | None:
        try:
            with user_errors(), record_failure(cfg):
                metrics = train(cfg, locked=locked)
        except SystemExit as exc:  # user_errors: one clear line was printed, exit code set
            if exc.code and HydraConfig.get().mode == RunMode.MULTIRUN:
                raise JobFailed(
                    f"job {HydraConfig.get().job.num} failed (exit {exc.code})"
                ) from None
            raise
        monitor = cfg.get("optimized_metric")
        return metrics.get(monitor) if monitor else None

    return app


def main() -> float | None:
    """Hydra entry point (``lgen train`` / ``python -m lightning_gen.commands.train``).

    A fixed run folder (``hydra.run.dir=`` or ``resume=``, see ``reliability.resume``) is locked
    before Hydra writes into it, so a second run started there fails without touching the first
    one's files; the app is told which folder it holds (no module state).
    """
    argv = with_resume_run_dir(sys.argv[1:])
    sys.argv = [sys.argv[0], *argv]
    run_dir = fixed_run_dir(argv)
    if run_dir is None:
        return hydra_app()()
    resuming = resume_value(argv) is not None
    with user_errors():
        lock = RunLock(check_writable(run_dir)).acquire()
        if not resuming:
            refuse_finished_run(run_dir)
    try:
        with RestoreOnFailure(run_dir) if resuming else contextlib.nullcontext():
            return hydra_app(locked=run_dir)()
    finally:
        lock.release()


if __name__ == "__main__":
    main()
