"""``lgen sample ckpt=<run folder or .ckpt>``: draw images from a checkpoint of any family.

Writes ``<out_dir>/samples.png`` (a grid) and ``samples.npz`` (``images`` uint8 ``(N, C, H, W)``,
plus ``labels`` / ``inputs`` / ``mask`` where they apply) and prints the sampling throughput.
Modes: ``generate`` (any model with ``sample``), ``inpaint`` and ``super_resolution`` (diffusion
models; inputs are the first ``n`` test images of the run's own data config).
"""

from __future__ import annotations

import inspect
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
from lightning_gen.errors import CheckpointError, ConfigError
from lightning_gen.fileio import atomic_write
from lightning_gen.images import save_grid, to_uint8, to_unit_interval
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


def _call_sample(
    model: Any, n: int, cfg: DictConfig, extra: dict[str, Any]
) -> tuple[torch.Tensor, float]:
    """``model.sample`` with the sampling options it accepts (sampler, steps, eta, guidance_scale).

    Returns the images and the seconds the sampling itself took (inputs loading excluded).
    """
    params = inspect.signature(model.sample).parameters
    opts = {
        k: cfg[k]
        for k in ("sampler", "steps", "eta", "guidance_scale", "temperature", "top_k", "top_p")
        if cfg.get(k) is not None
    }
    unknown = [k for k in opts if k not in params]
    if unknown:
        raise ConfigError(
            f"{type(model).__name__}.sample has no option(s) {unknown}; drop them from the command"
        )
    size = int(cfg.get("batch_size") or n)
    chunks, start = [], time.perf_counter()
    for i in range(0, n, size):
        part = {
            k: (
                v[i : i + size]
                if isinstance(v, torch.Tensor) and k != "mask" and len(v) == n
                else v
            )
            for k, v in extra.items()
        }
        chunks.append(model.sample(min(size, n - i), **opts, **part).cpu())
    return torch.cat(chunks), time.perf_counter() - start


def check_label(model: Any, label: Any) -> None:
    """``label=`` only for a class-conditional model, and only one of its classes."""
    hp = getattr(model, "hparams", {})
    classes = int(hp.get("num_classes", 0)) if hp.get("conditional") else 0
    if classes < 2:
        raise ConfigError(
            f"label={label}: {type(model).__name__} is not class-conditional, so a label would be "
            "ignored; drop label= or sample a class-conditional model (e.g. model=cvae, cgan)"
        )
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < classes:
        raise ConfigError(f"label={label} is not valid: must be an integer in [0, {classes - 1}]")


def generate(model: Any, cfg: DictConfig, ckpt: Path, gen: torch.Generator) -> dict[str, Any]:
    """Plain sampling; ``label`` picks one class for all images of a conditional model."""
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if cfg.get("label") is not None:
        check_label(model, cfg.label)
        out["labels"] = extra["condition"] = torch.full((cfg.n,), int(cfg.label), dtype=torch.long)
    if "generator" in inspect.signature(model.sample).parameters:
        extra["generator"] = gen
    out["images"], out["seconds"] = _call_sample(model, cfg.n, cfg, extra)
    return out


def inpaint(model: Any, cfg: DictConfig, ckpt: Path, gen: torch.Generator) -> dict[str, Any]:
    """Fill the masked-out part (mask ``0``) of test images; known pixels are kept at every step."""
    if not hasattr(model, "inpaint") or model.hparams.get("autoencoder") is not None:
        raise ConfigError(
            f"mode=inpaint needs a pixel-space diffusion model; {type(model).__name__} cannot inpaint"
        )
    x, y = test_images(ckpt, cfg.n)
    if cfg.mask not in MASKS:
        raise ConfigError(f"mask={cfg.mask!r} is not a mask; choose one of {sorted(MASKS)}")
    mask = MASKS[cfg.mask](x.shape[2], x.shape[3], gen)[None, None]  # (1, 1, H, W), 1 = known
    extra = (
        {"condition": y, "generator": gen}
        if model.hparams.get("conditional")
        else {"generator": gen}
    )
    images, seconds = _call_sample(model, len(x), cfg, {"known": x, "mask": mask, **extra})
    return {
        "images": images,
        "seconds": seconds,
        "inputs": x * mask - (1 - mask),
        "mask": mask.expand(len(x), 1, -1, -1),
    }


def super_resolution(
    model: Any, cfg: DictConfig, ckpt: Path, gen: torch.Generator
) -> dict[str, Any]:
    """Upscale test images shrunk by the model's ``low_res_factor``."""
    f = model.hparams.get("low_res_factor", 1)
    if f <= 1:
        raise ConfigError(
            "mode=super_resolution needs a model trained with model.low_res_factor>1 (experiment=sr_mnist)"
        )
    x, _ = test_images(ckpt, cfg.n)
    low = torch.nn.functional.avg_pool2d(x, f)
    images, seconds = _call_sample(model, len(x), cfg, {"condition": low, "generator": gen})
    upsampled = model.upsample(low)
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
    if cfg.get("ckpt") is None:
        raise ConfigError("no checkpoint given: lgen sample ckpt=<run folder or .ckpt>")
    if cfg.mode not in MODES:
        raise ConfigError(
            f"mode={cfg.mode!r} is not a sampling mode; choose one of {sorted(MODES)}"
        )
    ckpt = resolve_checkpoint(cfg.ckpt)
    model = load_model(ckpt, cfg.device, cfg.get("weights", "ema"))
    if callable(getattr(model, "generate_text", None)):  # language / seq2seq models
        from lightning_gen.commands.sample_text import sample_text

        return sample_text(model, cfg, ckpt)
    if not callable(getattr(model, "sample", None)):
        raise CheckpointError(
            f"{ckpt} holds a {type(model).__name__}, which cannot sample (it only reconstructs)"
        )
    out = Path(cfg.out_dir) if cfg.get("out_dir") else ckpt.parent.parent / "samples"
    check_writable(out)  # a read-only folder: one clear line before any sampling
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    with torch.no_grad():
        result = MODES[cfg.mode](model, cfg, ckpt, gen)
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
