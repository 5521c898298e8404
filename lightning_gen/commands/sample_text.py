"""``lgen sample ckpt=<run> prompt="..."`` for text models (language models, sequence-to-sequence).

Prints each prompt's continuation (a seq2seq model prints its decoding of the prompt) and writes
them to ``<out_dir>/text.txt``. Options left null are the model's own (``sampling_options()``);
an option the model does not take is an error, not ignored.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig

from lightning_gen.errors import ConfigError
from lightning_gen.fileio import atomic_write

TEXT_OPTIONS = ("max_new_tokens", "temperature", "top_k", "top_p", "beam_size")


def sample_text(model: Any, cfg: DictConfig, ckpt: Path) -> dict[str, Any]:
    """Generate text for ``cfg.prompt`` (a string or a list of strings); returns texts and paths."""
    prompt = cfg.get("prompt")
    if prompt is None:
        raise ConfigError(f'{ckpt} holds a text model: pass prompt="..." (or prompt=[a,b])')
    prompts = list(prompt) if isinstance(prompt, (list, ListConfig)) else [str(prompt)]
    params = inspect.signature(model.generate_text).parameters
    opts = {k: cfg[k] for k in TEXT_OPTIONS if cfg.get(k) is not None}
    unknown = [k for k in opts if k not in params]
    if unknown:
        raise ConfigError(f"{type(model).__name__} takes no {unknown}; drop them from the command")
    if "generator" in params:
        opts["generator"] = torch.Generator(device=cfg.device).manual_seed(int(cfg.seed))
    start = time.perf_counter()
    try:
        with torch.no_grad():
            texts = model.generate_text(prompts, **opts)
    except ValueError as e:  # e.g. a character outside a char-level vocabulary
        raise ConfigError(f"prompt: {e}") from None
    seconds = time.perf_counter() - start
    out = Path(cfg.out_dir) if cfg.get("out_dir") else ckpt.parent.parent / "samples"
    out.mkdir(parents=True, exist_ok=True)
    body = "".join(f"=== prompt {p!r}\n{t}\n\n" for p, t in zip(prompts, texts, strict=True))
    with atomic_write(out / "text.txt", "wb") as f:
        f.write(body.encode("utf-8"))
    print(body + f"{len(texts)} text(s) in {seconds:.2f} s -> {out / 'text.txt'}")
    return {"texts": texts, "path": out / "text.txt", "seconds": seconds}
