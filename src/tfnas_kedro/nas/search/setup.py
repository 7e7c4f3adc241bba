"""What one search runs with and keeps while it runs: its space, table, settings, latency target,
device and process group, and the device helpers every part of the search shares."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from ..latency import LatencyTable
from ..parallel import Ranks, all_sum
from ..penalty import LatencyPenalty
from ..space import SearchSpace
from .config import SearchConfig


@dataclass(frozen=True)
class SearchSetup:
    """The fixed part of a search (the changing part is :class:`~.state.SearchState`)."""

    space: SearchSpace  # at the table's resolution
    table: LatencyTable
    num_classes: int
    config: SearchConfig
    device: torch.device
    penalty: LatencyPenalty | None  # holds the latency target; None: only the warm-up can run
    ranks: Ranks
    reachable_ms: tuple[float, float]  # what the space reaches in the table (the target lies within)
    memory_format: torch.memory_format = torch.contiguous_format
    # mixed precision (CUDA: bf16, or fp16 with loss scaling); alpha, beta and the latency term stay fp32
    amp: torch.dtype | None = None
    checkpoint_dir: Path | None = None
    # epochs between checkpoints (the last one is always written): a resumed search replays the
    # epochs since, exactly, so this trades rework after a crash for time saving a big supernet
    checkpoint_every: int = 1

    @property
    def target_ms(self) -> float | None:
        return None if self.penalty is None else self.penalty.target_ms

    @cached_property
    def fixed_ms(self) -> float:
        """The table's latency of what every path shares: stem, head and the fixed blocks."""
        return self.table.fixed_ms + self.table.fixed_blocks_ms(self.space)

    def settings(self) -> dict:
        """The method's settings with the latency target and its weight: what a checkpoint records."""
        target = self.penalty.settings() if self.penalty else {"target_ms": None, "latency_lambda": None}
        return self.config.model_dump() | target

    def identity(self) -> dict:
        """What the search trains (space, table, classes): a resume refuses another's checkpoint."""
        m = self.table.meta
        return {
            "space": self.space.model_dump(mode="json"),
            "table": {
                "device": m.device,
                "device_name": m.device_name,
                "created": m.created,
                "resolution": m.resolution,
            },
            "num_classes": self.num_classes,
        }

    def layer_ms(self, widths: list[dict[str, int]]) -> list[torch.Tensor]:
        """The table's latency of every op at ``widths``, on the search device."""
        return [ms.to(self.device) for ms in self.table.layer_matrix(self.space, widths)]

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None)

    def on_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return x, y.to(self.device, non_blocking=True)

    def share(self, n: int):
        """What this process's ``n`` examples weigh against an even share of the global batch: the
        mean over processes of ``loss * share`` is then the global batch's mean loss, however the
        batch was split (a last, short batch may split unevenly). A device tensor: no host wait."""
        if not self.ranks.parallel:
            return 1.0
        total = all_sum(torch.tensor(float(n), device=self.device))
        return n * self.ranks.world_size / total

    def mean_over_ranks(self, values: list[torch.Tensor]) -> list[float]:
        """Per-process values averaged over the processes, on the host (one wait per call)."""
        stacked = torch.stack([v.float().reshape(()) for v in values])
        if self.ranks.parallel:
            stacked = all_sum(stacked) / self.ranks.world_size
        return stacked.tolist()
