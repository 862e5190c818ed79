"""The global batch across processes, for losses that must not depend on how it is split.

Every helper is the identity on one process (no process group, or a world of 1). The model
wrappers mammut_det trains under (DDP, FSDP, DeepSpeed) all *average* gradients over the world;
the losses here are written for that (see :func:`with_value`).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import Tensor


def world_info() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(x: Tensor) -> Tensor:
    """All ranks' ``x`` [B, ...] concatenated in rank order -> [N*B, ...]; the gradient of each
    rank's slice flows back to that rank's ``x`` (open_clip's ``gather_with_grad``). Every rank
    must hold the same B."""
    _, world = world_info()
    if world == 1:
        return x
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    if len({int(s) for s in sizes}) != 1:
        raise RuntimeError(f'the global contrastive batch needs the same batch size on every '
                           f'process; got {[int(s) for s in sizes]} (use a sampler that pads, '
                           'e.g. InfiniteSampler or DefaultSampler with round_up=True)')
    return torch.cat(dist_fn.all_gather(x), dim=0)


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum of a detached tensor over all ranks."""
    x = x.detach().clone()
    if world_info()[1] > 1:
        dist.all_reduce(x)
    return x


def with_value(local: Tensor, value: Tensor) -> Tensor:
    """A tensor equal to ``value`` whose gradient is that of ``local``: the loss a process logs is
    the global one while its backward is the process's own share."""
    return local + (value - local).detach()
