"""``ExactDDPStrategy``: Lightning's DDP, with epoch metrics that equal the single-process values.

Lightning averages a logged value over ranks as ``mean(sum of value * batch size) / mean(number
of images)``, which is exact only if the second mean is kept as a fraction; Lightning 2.x writes
the mean of the integer image counts back into an integer tensor (``_sync_ddp``), so whenever the
ranks scored different numbers of images (an odd-sized validation split sharded without padding)
every ``val/...`` and ``test/...`` value logged with ``sync_dist=True`` came out slightly off.
This strategy averages integer tensors in float64 instead. Everything else is ``strategy=ddp``.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy

_MEAN = {"mean", "avg"}


class ExactDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose ``reduce(..., "mean")`` of an integer tensor returns a float64 mean."""

    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: Any | None = "mean") -> Any:
        """Reduce over ranks; integer tensors are averaged as float64 (not truncated)."""
        op = reduce_op.lower() if isinstance(reduce_op, str) else reduce_op
        is_mean = op is None or op in _MEAN or op == torch.distributed.ReduceOp.AVG
        if isinstance(tensor, torch.Tensor) and is_mean and not tensor.is_floating_point():
            tensor = tensor.to(torch.float64)
        return super().reduce(tensor, group, reduce_op)
