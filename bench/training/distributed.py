"""Data-parallel training across processes (``torch.distributed``, started by ``torchrun``).

The shared training loop's batch step (``bench.training.loop.Trainer``) takes a
:class:`DataParallel` when the process group has several processes: each of the W processes
collates every W-th example of each global batch, and scales its loss by its share of the global
batch's loss normaliser (the sum of the query weights, or the number of samples for CTC), times
W. ``DistributedDataParallel`` averages the gradients over the processes, so the step is the step
of one process on the whole global batch, and the logged loss (all-reduced) is that batch's loss:
``train.batch_size`` means the *global* batch, and two processes follow one process's loss
trajectory within float tolerance (``tests/pretraining/test_distributed.py``). Random draws made
per process (augmentation such as unit dropout, dropout masks) differ from one process's: equal
in distribution, not bit for bit.

Collectives run on the loss's device, so the same code runs with gloo on CPUs and NCCL on GPUs
(NCCL reduces CUDA tensors only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

# a collated batch -> the scalar its loss is normalised by (e.g. ``bench.training.losses.loss_normaliser``)
Normaliser = Callable[[Any], torch.Tensor]


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless torch.distributed is initialised (torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@dataclass(frozen=True)
class DataParallel:
    """This process's part in a data-parallel step: which examples it takes, how its loss counts."""

    rank: int
    size: int
    normaliser: Normaliser

    @classmethod
    def of_world(cls, normaliser: Normaliser) -> "DataParallel | None":
        """The current process group's split, or None in a single process (the plain step)."""
        rank, size = world()
        return cls(rank, size, normaliser) if size > 1 else None

    def shard(self, indices: np.ndarray) -> tuple[np.ndarray, bool]:
        """This process's examples of a global batch (every ``size``-th, from ``rank``), and whether
        they count. A global batch smaller than the world (the last of an epoch) leaves some
        processes without an example; every process must still run forward and backward (DDP
        all-reduces the gradients of all), so such a process takes the batch's first example with
        no weight (``weigh(..., counts=False)``)."""
        mine = indices[self.rank :: self.size]
        return (mine, True) if len(mine) else (indices[:1], False)

    def weigh(self, loss: torch.Tensor, batch: Any, counts: bool = True) -> tuple[torch.Tensor, float]:
        """(the loss to back-propagate here, the global batch's loss). The first is weighted so
        that DDP's gradient average over processes is the gradient of the global batch's loss;
        a batch that does not count (see ``shard``) weighs nothing."""
        share = self.normaliser(batch).detach().float().to(loss.device)
        if not counts:
            share = torch.zeros_like(share)
        total = share.clone()
        dist.all_reduce(total)
        loss = loss * (share / total.clamp_min(1e-8) * self.size)
        global_loss = loss.detach().clone() / self.size
        dist.all_reduce(global_loss)
        return loss, float(global_loss)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` in ``DistributedDataParallel`` (gradients averaged over the processes in backward)."""
        return torch.nn.parallel.DistributedDataParallel(module)
