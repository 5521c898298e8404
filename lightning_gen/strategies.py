"""``ExactDDPStrategy``: Lightning's DDP, with epoch metrics that equal the single-process values.

Lightning averages a logged value over ranks as ``mean(sum of value * batch size) / mean(number
of images)``, which is exact only if the second mean is kept as a fraction; Lightning 2.x writes
the mean of the integer image counts back into an integer tensor (``_sync_ddp``), so whenever the
ranks scored different numbers of images (an odd-sized validation split sharded without padding)
every ``val/...`` and ``test/...`` value logged with ``sync_dist=True`` came out slightly off.
This strategy averages integer tensors in float64 instead.

It also launches its ranks so that a Hydra multirun (``lgen train -m ... trainer=ddp``) works:
Lightning re-runs the command line for every other rank, with ``hydra.run.dir`` set to the
*run* folder template, so inside a sweep each child started a sweep of its own in a new
timestamped folder. ``JobLauncher`` gives a child the command of its rank 0's *job* instead
(``rank_command_args``: the job's own overrides, no ``-m``, ``hydra.run.dir=<job folder>``), and
``end_job`` hands the next job of the sweep a clean process (children finished, process group
destroyed, the launcher's ``MASTER_PORT``/``LOCAL_RANK``/... unset), so it launches its own ranks.
Everything else is ``strategy=ddp``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import torch
from hydra._internal.utils import get_args_parser
from lightning.fabric.strategies.launchers.subprocess_script import _basic_subprocess_cmd
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

_MEAN = {"mean", "avg"}
# what Lightning's launcher sets in its own process before it starts the other ranks
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# Hydra settings of the sweep itself, or that a rank's command sets anew
SWEEP_KEYS = (
    "hydra.mode",
    "hydra.sweep",
    "hydra.sweeper",
    "hydra/sweeper",
    "hydra.launcher",
    "hydra/launcher",
    "hydra.run.dir",
    "hydra.job.name",
    "hydra.output_subdir",
)
# Hydra's command-line options that a rank's command keeps (parsed by Hydra's own parser)
CONFIG_FLAGS = {
    "config_path": "--config-path",
    "config_name": "--config-name",
    "config_dir": "--config-dir",
}


class ExactDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose ``reduce(..., "mean")`` of an integer tensor returns a float64 mean,
    launching its ranks with ``JobLauncher``."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if type(self._launcher) is _SubprocessScriptLauncher:
            self._launcher = JobLauncher(
                self.cluster_environment, self.num_processes, self.num_nodes
            )

    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: Any | None = "mean") -> Any:
        """Reduce over ranks; integer tensors are averaged as float64 (not truncated)."""
        op = reduce_op.lower() if isinstance(reduce_op, str) else reduce_op
        is_mean = op is None or op in _MEAN or op == torch.distributed.ReduceOp.AVG
        if isinstance(tensor, torch.Tensor) and is_mean and not tensor.is_floating_point():
            tensor = tensor.to(torch.float64)
        return super().reduce(tensor, group, reduce_op)


def _is_sweep_key(override: str) -> bool:
    key = override.split("=", 1)[0].lstrip("+~")
    return any(key == k or key.startswith((k + ".", k + "/")) for k in SWEEP_KEYS)


def rank_command_args(
    argv: list[str],
    task_overrides: list[str],
    hydra_overrides: list[str],
    job_dir: str,
    local_rank: int,
) -> list[str]:
    """The arguments (after the program) that start ``local_rank`` of the job running now.

    ``argv``: the command line as given (``sys.argv[1:]``; only its ``--config-*`` options are
    kept, ``-m`` is dropped); ``task_overrides`` / ``hydra_overrides``: the job's own overrides
    (``HydraConfig.overrides``: in a sweep, one value per swept key); ``job_dir``: the job's
    output folder (``hydra.runtime.output_dir``), which the rank writes into. A single run and a
    sweep's job get the same kind of command: one run, in that folder, without Hydra's
    ``.hydra/`` files (rank 0 wrote them) and with its own log ``train_ddp_process_<rank>.log``.
    """
    args = get_args_parser().parse_args(argv)
    flags = [
        f"{flag}={getattr(args, dest)}"
        for dest, flag in CONFIG_FLAGS.items()
        if getattr(args, dest)
    ]
    hydra = [o for o in hydra_overrides if not _is_sweep_key(o)]
    return [
        *flags,
        *hydra,
        *task_overrides,
        f'hydra.run.dir="{job_dir}"',  # quoted for Hydra's parser, as Lightning does
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",
    ]


def hydra_rank_command(local_rank: int) -> tuple[list[str], str]:
    """The command and working folder that start ``local_rank`` of the running Hydra job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd, to_absolute_path

    hc = HydraConfig.get()
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = (
        [sys.executable, "-m", spec.name]
        if spec
        else [sys.executable, to_absolute_path(sys.argv[0])]
    )
    args = rank_command_args(
        sys.argv[1:],
        list(hc.overrides.task),
        list(hc.overrides.hydra),
        str(hc.runtime.output_dir),
        local_rank,
    )
    return [*program, *args], get_original_cwd()


class JobLauncher(_SubprocessScriptLauncher):
    """Lightning's subprocess launcher, starting the other ranks with ``hydra_rank_command`` and
    able to ``end_job`` (the process can run another job of a sweep afterwards)."""

    env_before: dict[str, str | None] | None = None

    def _call_children_scripts(self) -> None:
        self._check_can_spawn_children()
        self.env_before = {k: os.environ.get(k) for k in LAUNCH_ENV}
        env = self.cluster_environment
        os.environ["MASTER_ADDR"] = env.main_address
        os.environ["MASTER_PORT"] = str(env.main_port)
        os.environ["NODE_RANK"] = str(env.node_rank())
        os.environ["LOCAL_RANK"] = str(env.local_rank())
        os.environ["WORLD_SIZE"] = str(self.num_processes * self.num_nodes)
        from hydra.core.hydra_config import HydraConfig

        for local_rank in range(1, self.num_processes):
            child_env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            if HydraConfig.initialized():
                command, cwd = hydra_rank_command(local_rank)
            else:
                command, cwd = list(_basic_subprocess_cmd()), None
            self.procs.append(subprocess.Popen(command, env=child_env, cwd=cwd))

    def end_job(self, timeout: float = 120.0) -> None:
        """Wait for the ranks this process started (killed after ``timeout`` s), destroy the
        process group and restore the launch variables; nothing if it started no ranks."""
        if self.env_before is None:
            return
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in self.env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.env_before = None


def end_job(trainer: Any) -> None:
    """Leave the process ready for another job (``JobLauncher.end_job``); other strategies: no-op."""
    launcher = getattr(trainer.strategy, "launcher", None)
    if isinstance(launcher, JobLauncher):
        launcher.end_job()
