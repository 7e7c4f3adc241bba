"""The latency term of the architecture loss, ``lambda * |LAT / T - 1|`` (docs/method.md section 6).

The target ``T`` belongs to one search, not to the method: the same settings search for many
targets (``search_targets``), and a warm-up runs with none. So the target and its weight travel
together in a :class:`LatencyPenalty` handed to the searcher, as a cost model's penalty is handed
to a search strategy, and this module holds the one check that a target is reachable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ConfigError, SearchError
from .latency import LatencyTable
from .space import SearchSpace

PAPER_LAMBDA = 0.1


@dataclass(frozen=True)
class LatencyPenalty:
    """``weight * |latency / target - 1|``: zero on the target, growing either way alike."""

    target_ms: float
    weight: float = PAPER_LAMBDA  # the paper's lambda

    def __post_init__(self):
        if not self.target_ms > 0:
            raise ConfigError(f"latency target {self.target_ms} ms: a target must be a positive latency")
        if not self.weight >= 0:
            raise ConfigError(f"latency_lambda {self.weight}: the latency term's weight must be at least 0")

    def __call__(self, latency_ms: torch.Tensor, target_ms: float | None = None) -> torch.Tensor:
        """The term for ``latency_ms``; ``target_ms`` stands in for the target while a search steers
        the term's target (``Searcher.steer``) and elasticity-scaling keeps aiming at the real one."""
        return self.weight * torch.abs(latency_ms / (target_ms or self.target_ms) - 1.0)

    def settings(self) -> dict:
        """The two numbers under the names a search's checkpoint records them by."""
        return {"target_ms": self.target_ms, "latency_lambda": self.weight}


def check_reachable(table: LatencyTable, space: SearchSpace, target_ms: float) -> tuple[float, float]:
    """The range ``space`` can reach on ``table``; raises :class:`SearchError`, naming that range,
    when ``target_ms`` lies outside it: no search could meet it."""
    low, high = table.reachable_range(space)
    if not low <= target_ms <= high:
        m = table.meta
        raise SearchError(
            f"target {target_ms:.3f} ms is outside the reachable range {low:.3f}..{high:.3f} ms of space "
            f"{space.name!r} on {m.device_name} ({m.device}, input {m.resolution}): choose a target in that range"
        )
    return low, high


def target_ms_for(
    table: LatencyTable, space: SearchSpace, latency_ms: float | None = None, fraction: float | None = None
) -> float:
    """The target in ms: ``latency_ms`` when given, else ``fraction`` of the way from the fastest to
    the slowest architecture ``space`` has on ``table``; checked by :func:`check_reachable`."""
    if latency_ms is None and fraction is None:
        raise ConfigError("set a latency target: latency_ms (ms) or fraction (of the reachable range)")
    if latency_ms is None:
        low, high = table.reachable_range(space)
        latency_ms = low + fraction * (high - low)
    check_reachable(table, space, latency_ms)
    return float(latency_ms)
