"""The project's DDPM / DDIM samplers vs diffusers' schedulers driving the same network.

Both sides run the same U-Net (a ``DiffusionModel`` built from ``configs/model/ddpm.yaml``, random
weights: speed only), the same betas (diffusers gets ``trained_betas``), the same batch and clipping
(``clip_sample=True``, range 1); diffusers' loop is its documented ``set_timesteps`` / ``step`` loop.
Runs alternate inside one process; each segment's ratio = diffusers seconds / project seconds
(>= 1.0: the project's sampler is at least as fast). The network dominates those seconds, so the
benchmark also times each sampler's own arithmetic per step with a null network (``x -> 0``,
``--null-reps`` runs per segment): ``overhead_us_per_step`` for both sides. diffusers is optional: ``pip install -e .[bench]``.

    python benchmarks/samplers.py [--batch 16] [--ddim-steps 50] [--timesteps 1000] [--segments 3]
        [--quick] [--threads 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from benchmarks.common import fmt, interleave, save, stats
from lightning_gen.diffusion.module import DiffusionModel
from lightning_gen.diffusion.samplers import DDIM, DDPM, DPMSolverPP, run_sampler


def diffusers_loop(scheduler, denoise, x: torch.Tensor, steps: int) -> torch.Tensor:
    """diffusers' sampling loop: ``set_timesteps``, then ``step`` per timestep."""
    scheduler.set_timesteps(steps)
    for t in scheduler.timesteps:
        eps = denoise(x, t.expand(x.shape[0]))
        x = scheduler.step(eps, t, x).prev_sample
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--ddim-steps", type=int, default=50)
    ap.add_argument("--solver-steps", type=int, default=20, help="DPM-Solver++(2M) steps")
    ap.add_argument("--timesteps", type=int, default=1000, help="T (DDPM samples all T steps)")
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 64, 64])
    ap.add_argument("--segments", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--null-reps", type=int, default=20, help="null-network runs per segment")
    ap.add_argument("--quick", action="store_true", help="tiny run: T=20, 5 DDIM steps, small net")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.batch, args.ddim_steps, args.timesteps, args.widths, args.segments = (
            2,
            5,
            20,
            [8, 8],
            1,
        )
    try:
        from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
    except ImportError:
        msg = "diffusers is not installed: pip install -e '.[bench]' (version pinned in constraints.txt)"
        print(msg)
        save("samplers", {"missing": msg, "quick": args.quick}, args.json)
        sys.exit(0)
    model = DiffusionModel(
        image_shape=(1, 28, 28), widths=args.widths, timesteps=args.timesteps, attention=True
    ).eval()
    sched = model.schedule
    betas = sched.betas.double().numpy()
    denoise = lambda x, t: model.net(x, t, None, None)  # noqa: E731
    x_t = torch.randn(args.batch, 1, 28, 28)
    common = dict(trained_betas=betas, num_train_timesteps=args.timesteps, clip_sample=True)
    ddim = DDIMScheduler(**common, set_alpha_to_one=True, timestep_spacing="linspace")
    ddpm = DDPMScheduler(**common, variance_type="fixed_small")
    dpm = DPMSolverMultistepScheduler(
        trained_betas=betas,
        num_train_timesteps=args.timesteps,
        algorithm_type="dpmsolver++",
        solver_order=2,
    )
    steps_ddim, steps_dpm = args.ddim_steps, min(args.solver_steps, args.timesteps)
    with torch.no_grad():

        def runners_for(net) -> dict:
            """Each sampler, the project's and diffusers', driving ``net`` from the same ``x_t``."""
            return {
                "project_ddim": lambda: run_sampler(DDIM(steps_ddim, eta=0.0), net, sched, x_t),
                "diffusers_ddim": lambda: diffusers_loop(ddim, net, x_t, steps_ddim),
                "project_ddpm": lambda: run_sampler(DDPM(), net, sched, x_t),
                "diffusers_ddpm": lambda: diffusers_loop(ddpm, net, x_t, args.timesteps),
                "project_dpm_solver": lambda: run_sampler(DPMSolverPP(steps_dpm), net, sched, x_t),
                "diffusers_dpm_solver": lambda: diffusers_loop(dpm, net, x_t, steps_dpm),
            }

        runners = runners_for(denoise)
        times = interleave(runners, args.segments)
        null = lambda x, t: torch.zeros_like(x)  # noqa: E731 - the samplers' arithmetic alone
        null_runners = runners_for(null)
        null_times = interleave(
            {
                k: (lambda f=f: [f() for _ in range(args.null_reps)])
                for k, f in null_runners.items()
            },
            args.segments,
        )
        # same math: deterministic DDIM from the same x_T (diffusers steps to t - T // steps, the project
        # to the next timestep of its linspace; equal when T // steps divides evenly)
        diff = (runners["project_ddim"]() - runners["diffusers_ddim"]()).abs().max().item()
    out = {
        "batch": args.batch,
        "timesteps": args.timesteps,
        "ddim_steps": steps_ddim,
        "solver_steps": steps_dpm,
        "widths": args.widths,
        "segments": args.segments,
        "quick": args.quick,
        "samplers": {},
    }
    n_steps = {"ddim": steps_ddim, "ddpm": args.timesteps, "dpm_solver": steps_dpm}
    for name in ("ddim", "ddpm", "dpm_solver"):
        ratios = [
            d / p for d, p in zip(times[f"diffusers_{name}"], times[f"project_{name}"], strict=True)
        ]
        per_step = 1e6 / (args.null_reps * n_steps[name])
        overhead = {
            side: min(null_times[f"{side}_{name}"]) * per_step for side in ("project", "diffusers")
        }
        out["samplers"][name] = {
            "ratio_diffusers_over_project": stats(ratios),
            "project_s": min(times[f"project_{name}"]),
            "diffusers_s": min(times[f"diffusers_{name}"]),
            "overhead_us_per_step": overhead,
        }
        print(
            f"{name}: diffusers/project {fmt(stats(ratios))} (min/median/max; >= 1.0: project as fast); "
            f"sampler arithmetic per step (null network): project {overhead['project']:.0f} us, "
            f"diffusers {overhead['diffusers']:.0f} us"
        )
    out["ddim_max_abs_diff"] = diff
    print(f"DDIM-{steps_ddim}: largest pixel difference project vs diffusers {diff:.2e}")
    save("samplers", out, args.json)


if __name__ == "__main__":
    main()
