"""Splitting evaluation data over processes."""

from __future__ import annotations

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
