"""The derived architecture landed on the latency target (docs/search.md, "Landing on the target").

Widths alone (elasticity-scaling, :func:`~.elastic.elasticity_scale`) reach only the band between
the chosen depths and ops at their narrowest and at their widest widths. A short search can end
with the target outside that band. Then the fit looks for the most probable depths and ops under
the search's beta and alpha whose band holds the target, and scales their widths.

How. Every depth configuration of the space is a candidate (384 in the TF-NAS space). For each,
the ops start as the search chose them; where their band misses the target, layers swap ops one
at a time, the swap that costs the least probability per millisecond it moves toward the target
first, and none that jumps past the target (a greedy multiple-choice knapsack, in
:meth:`_Choices.ops_for`). The candidates are then scaled in order of probability until one lands
within the tolerance below the target. Why not a walk from the search's choice, one depth or op
at a time: it overshot (one layer more too slow, one less too fast), could not climb back with
whole-op changes, and after 3-epoch searches landed 1.1-31.8% below the target.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from .elastic import Fit, FitProblem, op_width_ends
from .latency import LatencyTable
from .space import SearchSpace
from .subnet import Subnet
from .target_walk import walk_to_target

TINY_PROBABILITY = 1e-9  # a probability of 0 is a cost of -log(1e-9): possible, but last


def fit_to_target(
    table: LatencyTable,
    space: SearchSpace,
    depth_probs: list[list[float]],
    op_probs: list[list[float]],
    subnet: Subnet,
    target_ms: float,
    tolerance: float = 0.01,
    tries: int = 50,
) -> Fit:
    """``subnet`` with its widths fitted to ``target_ms``, within ``tolerance`` below it; where its
    depths and ops cannot get there, the most probable ones that can (``depth_probs[s][d - 1]``:
    stage ``s`` at depth ``d``; ``op_probs[j][i]``: op ``i`` at layer ``j``), every change noted.
    If none of the ``tries`` most probable candidates lands within the tolerance, the closest
    result below the target is kept, and the last note says so."""
    problem = FitProblem(table, space.at_resolution(table.meta.resolution), depth_probs, op_probs, target_ms, tolerance)
    result = problem.scale(subnet)
    if result.feasible and result.gap <= tolerance:
        return Fit(result, [])
    choices = _Choices(problem)
    best = result if result.feasible else None
    for _, depths, ops in choices.candidates(subnet)[:tries]:
        scaled = problem.scale(replace(subnet, depths=depths, ops=ops))
        if scaled.feasible and (best is None or scaled.gap < best.gap):
            best = scaled
        if scaled.feasible and scaled.gap <= tolerance:
            return Fit(scaled, choices.changes(subnet, scaled.subnet))
    # none landed: the walk from the search's choice, and the closer of the two below the target
    walked = walk_to_target(problem, subnet)
    if best is None or (walked.scaling.feasible and walked.scaling.gap <= best.gap):
        return walked
    kept = f"kept the closest result below the target: {best.message}"
    return Fit(best, [*choices.changes(subnet, best.subnet), kept])


class _Choices:
    """The space's depths and ops priced at their width extremes, and scored by probability."""

    def __init__(self, problem: FitProblem):
        table, space, depth_probs, op_probs = problem.table, problem.space, problem.depth_probs, problem.op_probs
        self.space, self.positions = space, space.positions()
        self.stage_layers = [
            [j for j, p in enumerate(self.positions) if p.stage == s] for s in range(len(space.stages))
        ]
        # each op's latency at its narrowest and its widest width, per layer: the band it adds
        # a noisy table can price the narrowest width above the widest: the band is their min and max
        self.ends = [[(min(e), max(e)) for e in layer] for layer in op_width_ends(table, space)]
        self.fixed = table.fixed_ms + table.fixed_blocks_ms(space)
        self.depth_probs, self.op_probs = depth_probs, op_probs
        self.depth_cost = [[-math.log(max(q, TINY_PROBABILITY)) for q in qs] for qs in depth_probs]
        self.op_cost = [[-math.log(max(q, TINY_PROBABILITY)) for q in qs] for qs in op_probs]
        self.lowest, self.highest = problem.target_ms * (1 - problem.tolerance), problem.target_ms  # a band must reach

    def candidates(self, start: Subnet) -> list[tuple[float, tuple[int, ...], tuple[int, ...]]]:
        """``(cost, depths, ops)`` of every depth configuration whose ops can be made to hold the
        target, most probable (lowest -log probability) first."""
        ranges = [range(stage.min_depth, stage.max_depth + 1) for stage in self.space.stages]
        found = [self.ops_for(depths, start.ops) for depths in itertools.product(*ranges)]
        return sorted(c for c in found if c is not None)

    def ops_for(self, depths: tuple[int, ...], ops: tuple[int, ...]) -> tuple | None:
        """``(cost, depths, ops)``: ``ops`` with the fewest-probability-lost swaps that bring the
        band of ``depths`` over the target, or None where no swaps can."""
        active = [j for s, depth in enumerate(depths) for j in self.stage_layers[s][:depth]]
        if not self._reachable(active):
            return None
        ops = list(ops)
        low = self.fixed + sum(self.ends[j][ops[j]][0] for j in active)
        high = self.fixed + sum(self.ends[j][ops[j]][1] for j in active)
        while low > self.highest or high < self.lowest:  # each swap moves the band toward the target
            swap = self._cheapest_swap(active, ops, low, high)
            if swap is None:
                return None
            j, i = swap
            low += self.ends[j][i][0] - self.ends[j][ops[j]][0]
            high += self.ends[j][i][1] - self.ends[j][ops[j]][1]
            ops[j] = i
        cost = sum(self.depth_cost[s][d - 1] for s, d in enumerate(depths))
        cost += sum(self.op_cost[j][ops[j]] for j in active)
        return cost, tuple(depths), tuple(ops)

    def _reachable(self, active: list[int]) -> bool:
        """Whether any ops at these layers could hold the target (a quick bound before the swaps)."""
        fastest = self.fixed + sum(min(end[0] for end in self.ends[j]) for j in active)
        slowest = self.fixed + sum(max(end[1] for end in self.ends[j]) for j in active)
        return fastest <= self.highest and slowest >= self.lowest

    def _cheapest_swap(self, active: list[int], ops: list[int], low: float, high: float) -> tuple[int, int] | None:
        """The swap that loses the least probability per millisecond it moves the band toward the
        target, without moving past it (a layer may be swapped again, further the same way)."""
        slower = high < self.lowest  # the band lies below the target: dearer ops
        need = self.lowest - high if slower else low - self.highest
        best, best_key = None, None
        for j in active:
            now = self.ends[j][ops[j]]
            for i, end in enumerate(self.ends[j]):
                moved = end[1] - now[1] if slower else now[0] - end[0]
                new_low, new_high = low + end[0] - now[0], high + end[1] - now[1]
                if i == ops[j] or moved <= 0 or (new_low > self.highest if slower else new_high < self.lowest):
                    continue
                lost = self.op_cost[j][i] - self.op_cost[j][ops[j]]
                useful = min(moved, need)
                key = (lost / useful, -useful, moved)  # cheapest per ms, then the most of the need, then the least
                if best_key is None or key < best_key:
                    best, best_key = (j, i), key
        return best

    def changes(self, start: Subnet, end: Subnet) -> list[str]:
        """The depth and op changes from ``start`` to ``end``, each with its probabilities."""
        notes = []
        for s, (before, after) in enumerate(zip(start.depths, end.depths, strict=True)):
            if before != after:
                p = self.depth_probs[s]
                notes.append(f"stage {s + 1} depth {before} -> {after} (p {p[after - 1]:.2f}, was {p[before - 1]:.2f})")
        for j, position, name in end.active(self.space):
            before = position.ops[start.ops[j]]
            if before != name:
                p = self.op_probs[j]
                notes.append(f"layer {j} op {before} -> {name} (p {p[end.ops[j]]:.2f}, was {p[start.ops[j]]:.2f})")
        return notes
