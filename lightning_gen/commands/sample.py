"""``lgen sample checkpoint=<run folder or .ckpt>``: draw images from a checkpoint of any family.

Writes ``<out_dir>/samples.png`` (a grid) and ``samples.npz`` (``images`` uint8 ``(N, C, H, W)``,
plus ``labels`` / ``inputs`` / ``mask`` where they apply) and prints the sampling throughput.
Modes: ``generate`` (any model with ``sample``), ``inpaint`` and ``super_resolution`` (models
with those capabilities, ``contracts.CanInpaint``/``CanSuperResolve``; inputs are the first ``n``
test images of the run's own data config). Sampling options (``sampler=<configs/sampler name>``,
``steps``, ``eta``, ``guidance_scale``) are merged into the model's own by
``contracts.resolve_sampling``: an option the model does not have is an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torchmetrics.functional.image import peak_signal_noise_ratio

from lightning_gen.checkpoints import load_model, resolve_checkpoint, run_config
from lightning_gen.cli_errors import user_errors
from lightning_gen.contracts import (
    CanGenerateText,
    CanInpaint,
    CanSample,
    CanSuperResolve,
    condition_classes,
    resolve_sampling,
)
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.fileio import atomic_write
from lightning_gen.images import save_grid, to_uint8, to_unit_interval
from lightning_gen.metrics.protocol import sampling_overrides
from lightning_gen.reliability.run_dir import check_writable

# -- inputs for inpainting / super-resolution --------------------------------------------------
MASKS: dict[str, Callable[[int, int, torch.Generator], torch.Tensor]] = {
    "left_half": lambda h, w, g: (torch.arange(w) < w // 2).float().expand(h, w),
    "top_half": lambda h, w, g: (torch.arange(h) < h // 2).float()[:, None].expand(h, w),
    "center": lambda h, w, g: (
        1
        - ((torch.arange(h)[:, None] - h / 2).abs() < h / 4).float()
        * ((torch.arange(w) - w / 2).abs() < w / 4).float()
    ),
    "random": lambda h, w, g: (torch.rand(h, w, generator=g) < 0.5).float(),
}


def test_images(ckpt: Path, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The first ``n`` test images ``(n, C, H, W)`` (and labels) of the checkpoint's run data config."""
    cfg = run_config(ckpt)
    if cfg is None or "data" not in cfg:
        raise CheckpointError(
            f"{ckpt}: inpainting/super-resolution read the run's data, but no config.yaml of its run was found"
        )
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("test")
    xs, ys = [], []
    for x, y in dm.split_dataloader("test"):
        xs.append(x)
        ys.append(y)
        if sum(len(b) for b in xs) >= n:
            break
    labels = None if ys[0] is None else torch.cat(ys)[:n]
    return torch.cat(xs)[:n], labels


def _batched(
    fn: Callable[..., torch.Tensor], n: int, size: int, per_image: dict[str, Any], **common: Any
) -> tuple[torch.Tensor, float]:
    """``fn(m, **per_image[i:i+m], **common)`` over batches of at most ``size``; images and seconds.

    ``per_image`` values are tensors with one row per image (sliced per batch); ``common`` is
    passed whole. The seconds count the sampling itself (inputs loading excluded).
    """
    chunks, start = [], time.perf_counter()
    for i in range(0, n, size):
        part = {k: v[i : i + size] for k, v in per_image.items()}
        chunks.append(fn(min(size, n - i), **part, **common).cpu())
    return torch.cat(chunks), time.perf_counter() - start


def check_label(model: Any, label: Any) -> None:
    """``label=`` only for a class-conditional model, and only one of its classes."""
    classes = condition_classes(model)
    if classes < 2:
        raise ConfigError(
            f"label={label}: {type(model).__name__} is not class-conditional, so a label would be "
            "ignored; drop label= or sample a class-conditional model (e.g. model=cvae, cgan)"
        )
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < classes:
        raise ConfigError(f"label={label} is not valid: must be an integer in [0, {classes - 1}]")


def generate(
    model: Any, cfg: DictConfig, ckpt: Path, gen: torch.Generator, options: dict[str, Any]
) -> dict[str, Any]:
    """Plain sampling; ``label`` picks one class for all images of a conditional model."""
    out: dict[str, Any] = {}
    per_image: dict[str, Any] = {}
    if cfg.get("label") is not None:
        check_label(model, cfg.label)
        out["labels"] = per_image["condition"] = torch.full(
            (cfg.n,), int(cfg.label), dtype=torch.long
        )
    out["images"], out["seconds"] = _batched(
        lambda m, **kw: model.sample(m, **kw),
        cfg.n,
        int(cfg.batch_size),
        per_image,
        **options,
    )
    return out


def inpaint(
    model: Any, cfg: DictConfig, ckpt: Path, gen: torch.Generator, options: dict[str, Any]
) -> dict[str, Any]:
    """Fill the masked-out part (mask ``0``) of test images; known pixels are kept at every step."""
    if not isinstance(model, CanInpaint):
        raise ConfigError(
            f"mode=inpaint needs a model that can inpaint (pixel-space diffusion); {type(model).__name__} cannot"
        )
    x, y = test_images(ckpt, cfg.n)
    if cfg.mask not in MASKS:
        raise ConfigError(f"mask={cfg.mask!r} is not a mask; choose one of {sorted(MASKS)}")
    mask = MASKS[cfg.mask](x.shape[2], x.shape[3], gen)[None, None]  # (1, 1, H, W), 1 = known
    per_image = {"known": x} if y is None else {"known": x, "condition": y}
    images, seconds = _batched(
        lambda m, known, **kw: model.inpaint(known, mask, **kw),
        len(x),
        int(cfg.batch_size),
        per_image,
        **options,
    )
    return {
        "images": images,
        "seconds": seconds,
        "inputs": x * mask - (1 - mask),
        "mask": mask.expand(len(x), 1, -1, -1),
    }


def super_resolution(
    model: Any, cfg: DictConfig, ckpt: Path, gen: torch.Generator, options: dict[str, Any]
) -> dict[str, Any]:
    """Upscale test images shrunk by the model's ``low_res_factor``."""
    if not isinstance(model, CanSuperResolve) or model.low_res_factor <= 1:
        raise ConfigError(
            "mode=super_resolution needs a model trained with model.low_res_factor>1 (experiment=sr_mnist)"
        )
    f = model.low_res_factor
    x, _ = test_images(ckpt, cfg.n)
    low = torch.nn.functional.avg_pool2d(x, f)
    images, seconds = _batched(
        lambda m, low_res, **kw: model.super_resolve(low_res, **kw),
        len(x),
        int(cfg.batch_size),
        {"low_res": low},
        **options,
    )
    upsampled = torch.nn.functional.interpolate(
        low, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False
    )
    psnr = {
        name: float(
            peak_signal_noise_ratio(to_unit_interval(v.cpu()), to_unit_interval(x), data_range=1.0)
        )
        for name, v in (("diffusion", images), ("bilinear", upsampled))
    }
    print(
        f"PSNR vs the full-size images: diffusion {psnr['diffusion']:.2f} dB, bilinear {psnr['bilinear']:.2f} dB"
    )
    return {"images": images, "seconds": seconds, "inputs": upsampled, "targets": x}


MODES: dict[str, Callable[..., dict[str, Any]]] = {
    "generate": generate,
    "inpaint": inpaint,
    "super_resolution": super_resolution,
}


def sample(cfg: DictConfig) -> dict[str, Any]:
    """Run one sampling job from a config; returns paths and the measured throughput."""
    if cfg.get("ckpt") is not None and cfg.get("checkpoint") is not None:
        raise ConfigError("pass checkpoint=<run folder or .ckpt> only (ckpt= is its old name)")
    path = cfg.get("checkpoint") or cfg.get("ckpt")
    if path is None:
        raise ConfigError("no checkpoint given: lgen sample checkpoint=<run folder or .ckpt>")
    if cfg.mode not in MODES:
        raise ConfigError(
            f"mode={cfg.mode!r} is not a sampling mode; choose one of {sorted(MODES)}"
        )
    ckpt = resolve_checkpoint(path)
    model = load_model(ckpt, cfg.device, cfg.get("weights", "ema"))
    if isinstance(model, CanGenerateText):  # language / seq2seq models
        from lightning_gen.commands.sample_text import sample_text

        return sample_text(model, cfg, ckpt)
    if not isinstance(model, CanSample):
        raise CheckpointError(
            f"{ckpt} holds a {type(model).__name__}, which cannot sample (it only reconstructs)"
        )
    out = Path(cfg.out_dir) if cfg.get("out_dir") else ckpt.parent.parent / "samples"
    check_writable(out)  # a read-only folder: one clear line before any sampling
    try:
        options = resolve_sampling(model, sampling_overrides(cfg))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    torch.manual_seed(cfg.seed)  # every model samples from the global RNG, seeded here
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)  # random masks
    with torch.no_grad():
        result = MODES[cfg.mode](model, cfg, ckpt, gen, options)
    seconds = result.pop("seconds")
    images = result["images"].float().cpu().clamp(-1, 1)
    grid = (
        images
        if "inputs" not in result
        else torch.stack([result["inputs"].cpu(), images], 1).flatten(0, 1)
    )
    png = save_grid(grid, out / f"{cfg.mode}.png", nrow=16 if "inputs" in result else None)
    arrays = {
        k: (to_uint8(v.cpu()) if v.is_floating_point() and k != "mask" else v.cpu()).numpy()
        for k, v in result.items()
    }
    with atomic_write(out / f"{cfg.mode}.npz", "wb") as f:
        np.savez_compressed(f, **arrays)
    rate = len(images) / seconds
    print(
        f"{len(images)} samples in {seconds:.2f} s: {rate:.2f} samples/s -> {png}, {out / f'{cfg.mode}.npz'}"
    )
    return {"png": png, "npz": out / f"{cfg.mode}.npz", "seconds": seconds, "samples_per_s": rate}


@hydra.main(config_path="pkg://lightning_gen.configs", config_name="sample", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point (``lgen sample`` / ``python -m lightning_gen.commands.sample``)."""
    with user_errors():
        sample(cfg)


if __name__ == "__main__":
    main()
