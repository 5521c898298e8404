"""Write the latest logged metrics to ``<run>/metrics.json`` (atomically) after val and test.

The record also names the checkpoints the run folder holds and the global step of the weights in
each (read from the files themselves): ``"checkpoints": {"last": {"path", "global_step"},
"best": {"path", "global_step"}}``, paths relative to the run folder.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lightning_gen.callbacks.last_checkpoint import last_checkpoint_path
from lightning_gen.fileio import atomic_write


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` atomically (never half-written)."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)


_STEP_CACHE: dict[tuple, int | None] = {}


def checkpoint_step(path: Path) -> int | None:
    """``global_step`` stored in a checkpoint file (memory-mapped: tensors are not read).

    Remembered per file version (path, inode, size, modification time in ns), so a file that has
    not changed since the last validation is not unpickled again. A file modified in the last 2
    seconds is always read: on a file system with coarse timestamps, a checkpoint replaced within
    the same tick by one of the same size (a recycled inode) would otherwise look unchanged."""
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        return None
    if time.time() - st.st_mtime < 2.0:
        return _read_step(path)
    if key not in _STEP_CACHE:
        if len(_STEP_CACHE) > 64:
            _STEP_CACHE.clear()
        _STEP_CACHE[key] = _read_step(path)
    return _STEP_CACHE[key]


def _read_step(path: Path) -> int | None:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable: recorded without a step
        return None
    return int(ckpt["global_step"]) if isinstance(ckpt, dict) and "global_step" in ckpt else None


def checkpoints_record(trainer: L.Trainer) -> dict[str, dict[str, Any]]:
    """``{"last": {...}, "best": {...}}`` for the checkpoint files that exist now."""
    root = Path(trainer.default_root_dir)
    best = next(
        (c.best_model_path for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), ""
    )
    out = {}
    for name, path in (("last", last_checkpoint_path(trainer)), ("best", best)):
        if path and Path(path).is_file():
            rel = os.path.relpath(Path(path).resolve(), root.resolve())
            out[name] = {"path": rel, "global_step": checkpoint_step(Path(path))}
    return out


def _batch_size(batch) -> int:
    """Images in a batch: the first dimension of its first tensor (tuples/dicts searched in order)."""
    if hasattr(batch, "shape"):
        return int(batch.shape[0]) if batch.ndim else 0
    items = batch.values() if isinstance(batch, dict) else batch
    if isinstance(items, (list, tuple)) or isinstance(batch, dict):
        for item in items:
            n = _batch_size(item)
            if n:
                return n
    return 0


class MetricsFile(L.Callback):
    """Keep ``metrics.json`` = ``{"epoch", "global_step", "val", "test", "train", "checkpoints",
    "model", "time"}`` up to date. A resumed run continues the record of its run folder.

    ``"model": {"model/params": trainable parameters}`` and ``"time": {"time/train_seconds": wall
    seconds of fit, "time/train_images": images trained on (this rank's)}`` are read by
    ``lgen compare``. The image count is part of the callback's checkpoint state, so a resumed run
    continues it exactly (equal to an uninterrupted run's); the seconds continue from the record
    of the run folder (wall time of earlier processes that reached the end of training, plus this
    one's; a killed process's seconds are not counted).
    """

    def __init__(self, filename: str = "metrics.json") -> None:
        self.filename = filename
        self.record: dict = {}
        self._fit_start: float | None = None
        self._train_images = 0
        self._seconds_before = 0.0  # training seconds of earlier processes (from the checkpoint)

    def _train_seconds(self) -> float:
        now = time.perf_counter() - self._fit_start if self._fit_start is not None else 0.0
        return self._seconds_before + now

    def state_dict(self) -> dict[str, Any]:
        return {"train_images": self._train_images}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._train_images = int(state_dict.get("train_images", 0))

    def _path(self, trainer: L.Trainer) -> Path:
        return Path(trainer.default_root_dir) / self.filename

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.ckpt_path and self._path(trainer).is_file():
            self.record = json.loads(self._path(trainer).read_text())
            self._seconds_before = float(self.record.get("time", {}).get("time/train_seconds", 0.0))
        self._fit_start = time.perf_counter()
        params = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        self.record["model"] = {"model/params": int(params)}

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.is_global_zero:
            self.record["checkpoints"] = checkpoints_record(trainer)
            write_json_atomic(self._path(trainer), self.record)

    def _write(self, trainer: L.Trainer, stage: str) -> None:
        if trainer.sanity_checking:
            return
        values = {}
        for k, v in trainer.callback_metrics.items():
            if k.startswith(f"{stage}/"):
                f = float(v)
                values[k] = f if math.isfinite(f) else str(f)
        self.record.update(
            {"epoch": trainer.current_epoch, "global_step": trainer.global_step, stage: values}
        )
        self._save(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._train_images += _batch_size(batch)

    def on_validation_end(self, trainer, pl_module):
        self._write(trainer, "val")

    def on_test_end(self, trainer, pl_module):
        self._write(trainer, "test")

    def on_train_end(self, trainer, pl_module):
        train = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        if train or "train" not in self.record:  # a resume that trains nothing keeps the record
            self.record["train"] = train
        if self._fit_start is not None:
            self.record["time"] = {
                "time/train_seconds": round(self._train_seconds(), 3),
                "time/train_images": self._train_images,  # this rank's
            }
        self._save(trainer)
