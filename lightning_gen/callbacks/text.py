"""Generated text during training: continuations of fixed prompts, sent to every logger.

Needs a model with ``generate_text(prompts, **options) -> list[str]`` (language models,
sequence-to-sequence). After every ``every_n_epochs``-th validation epoch and after test it writes
``<run>/<dirname>/samples_<tag>.txt`` (the CSV logger's record), adds the text to TensorBoard
(``add_text``) and a table to W&B (``log_table``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lightning_gen.callbacks.common import PeriodicWriter
from lightning_gen.fileio import atomic_write


def log_text(trainer: L.Trainer, key: str, prompts: list[str], texts: list[str], step: int) -> None:
    """Send prompt/text pairs to TensorBoard (markdown) and W&B (a table); CSV has the text file."""
    for logger in trainer.loggers:
        name = type(logger).__name__
        if name == "TensorBoardLogger":
            body = "\n\n".join(
                f"**{p!r}**\n\n    " + t.replace("\n", "\n    ")
                for p, t in zip(prompts, texts, strict=True)
            )
            logger.experiment.add_text(key, body, step)
        elif name == "WandbLogger":
            logger.log_table(
                key=key,
                columns=["prompt", "text"],
                data=[list(r) for r in zip(prompts, texts, strict=True)],
                step=step,
            )


class TextSamples(PeriodicWriter):
    """Continue ``prompts`` with the model's ``generate_text``; options left null are the model's own."""

    def __init__(self, prompts: list[str], max_new_tokens: int | None = 200, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None, every_n_epochs: int = 1,
                 dirname: str = "text", seed: int = 0) -> None:  # fmt: skip
        if not prompts:
            raise ValueError("callbacks.text_samples.prompts must hold at least one prompt")
        self.prompts, self.every_n_epochs, self.dirname, self.seed = (
            list(prompts),
            every_n_epochs,
            dirname,
            seed,
        )
        self.options = {k: v for k, v in dict(max_new_tokens=max_new_tokens, temperature=temperature,
                        top_k=top_k, top_p=top_p).items() if v is not None}  # fmt: skip

    def setup(self, trainer, pl_module, stage):
        fn = getattr(pl_module, "generate_text", None)
        if not callable(fn):
            raise TypeError(f"TextSamples needs a model with generate_text(); {type(pl_module).__name__} has none. "
                            "Use callbacks=default for image models.")  # fmt: skip
        params = inspect.signature(fn).parameters
        unknown = [k for k in self.options if k not in params]
        if unknown:
            raise ValueError(f"callbacks.text_samples: {type(pl_module).__name__}.generate_text takes no {unknown}; "
                             "set them to null")  # fmt: skip
        self._takes_generator = "generator" in params

    @torch.no_grad()
    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> list[Path]:
        extra: dict[str, Any] = {}
        if self._takes_generator:
            extra["generator"] = torch.Generator(device=pl_module.device).manual_seed(self.seed)
        was_training = pl_module.training
        pl_module.eval()
        texts = pl_module.generate_text(self.prompts, **self.options, **extra)
        pl_module.train(was_training)
        if not trainer.is_global_zero:
            return []
        path = Path(trainer.default_root_dir) / self.dirname / f"samples_{tag}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"=== prompt {p!r}\n{t}\n\n" for p, t in zip(self.prompts, texts, strict=True)
        )
        with atomic_write(path, "wb") as f:
            f.write(body.encode("utf-8"))
        log_text(trainer, "text/samples", self.prompts, texts, trainer.global_step)
        return [path]
