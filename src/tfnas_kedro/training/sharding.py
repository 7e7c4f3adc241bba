"""Splitting evaluation data over processes and summing results across them."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world_size, ...`` in order: every item on exactly one process, no
    padding (unlike ``DistributedSampler``, which repeats items to even out the shards)."""

    def __init__(self, length: int, world_size: int = 1, rank: int = 0):
        self.indices = list(range(rank, length, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over all processes (itself when not distributed)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
