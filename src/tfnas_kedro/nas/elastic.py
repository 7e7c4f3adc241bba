"""Elasticity-scaling: fit the widths of the derived architecture to the latency target.

docs/method.md section 5. Given the current strongest op per layer and depth per stage, widths
are shrunk together (in proportion to each width) until the table latency is below the target,
then suffixes of the stages (all stages, then stages 2.., 3.., ...) are expanded with finer and
finer steps to fill back up to it, and a last pass widens single layers into what is left. Widths
stay in each op's range. If even the narrowest widths miss the target, the result says so.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from .latency import LatencyTable
from .space import SearchSpace
from .subnet import Subnet


@dataclass
class ScalingResult:
    subnet: Subnet  # the ops and depths scaled, with their new widths
    latency_ms: float
    target_ms: float
    feasible: bool
    message: str
    # what the same ops and depths take at their narrowest and widest widths: the band widths can reach
    band_ms: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def widths(self) -> list[dict[str, int]]:
        """Every op's width at every layer, as :meth:`~.supernet.Supernet.set_widths` takes them."""
        return [dict(w) for w in self.subnet.widths]

    @property
    def gap(self) -> float:
        """Relative distance below the target (0 = on it; negative = above it)."""
        return (self.target_ms - self.latency_ms) / self.target_ms


def _largest(feasible: Callable[[float], bool], low: float, high: float, iterations: int = 40) -> float:
    """The largest ``x`` in ``[low, high]`` with ``feasible(x)``, given ``feasible(low)``."""
    if feasible(high):
        return high
    for _ in range(iterations):
        middle = (low + high) / 2
        low, high = (middle, high) if feasible(middle) else (low, middle)
    return low


def _widen_layers(
    mids: dict[int, int], bounds: dict[int, tuple[int, int]], block: Callable[[int, int], float], budget_ms: float
) -> dict[int, int]:
    """Single layers, last first, widened to their widest width that fits what is left of
    ``budget_ms``, every width tried; never narrowed (a narrower width that fills the target
    closer only costs accuracy).

    Why every width: a measured table is not monotone in width. With a channel block, widths on it
    are priced from their own, cheaper curve (64 can cost less than 63), and a noisy entry can
    price a width below a narrower one, where a bisection stops short; and a wider width can cost
    less, freeing time for layers already widened. On a synthetic table with both (20% cheaper on
    the block, 5% noise), 28% of targets ended over 1% below with a bisection, 7% with this (the
    worst 5.6% -> 2.0% below)."""
    mids, changed = dict(mids), True
    while changed:  # again while a width moves: on such a table a wider width can free time
        changed = False
        for j in reversed(list(mids)):
            left = budget_ms - sum(block(k, mids[k]) for k in mids if k != j)
            widest = max((mid for mid in range(mids[j], bounds[j][1] + 1) if block(j, mid) <= left), default=mids[j])
            changed, mids[j] = changed or widest != mids[j], widest
    return mids


def width_band(table: LatencyTable, space: SearchSpace, subnet: Subnet) -> tuple[float, float]:
    """The latency of the subnet's depths and ops at their narrowest and at their widest widths:
    the band elasticity-scaling can reach without changing them."""
    space = space.at_resolution(table.meta.resolution)
    fixed = table.fixed_ms + table.fixed_blocks_ms(space)
    low = high = fixed
    for _, p, name in subnet.active(space):
        narrowest, widest = space.ops[name].mid_range(p.cin)
        low += table.block_ms(space.block_spec(p, name, narrowest), p.input_hw)
        high += table.block_ms(space.block_spec(p, name, widest), p.input_hw)
    return low, high


def op_width_ends(table: LatencyTable, space: SearchSpace) -> list[list[tuple[float, float]]]:
    """Per layer, each op's latency at its narrowest and at its widest width (what swapping to
    it can move); ``space`` at the table's resolution."""
    ends = []
    for p in space.positions():
        ends.append([])
        for name in p.ops:
            mids = space.ops[name].mid_range(p.cin)
            ends[-1].append(tuple(table.block_ms(space.block_spec(p, name, mid), p.input_hw) for mid in mids))
    return ends


def elasticity_scale(table: LatencyTable, space: SearchSpace, subnet: Subnet, target_ms: float) -> ScalingResult:
    """New widths for the chosen ops of the active layers (other ops keep theirs)."""
    space = space.at_resolution(table.meta.resolution)
    active = subnet.active(space)
    layer = {j: (p, name) for j, p, name in active}
    bounds = {j: space.ops[name].mid_range(p.cin) for j, p, name in active}
    fixed = table.fixed_ms + table.fixed_blocks_ms(space)

    @functools.cache  # the searches below price the same widths again and again
    def block(j: int, mid: int) -> float:
        p, name = layer[j]
        return table.block_ms(space.block_spec(p, name, mid), p.input_hw)

    def latency(mids: dict[int, int]) -> float:
        return fixed + sum(block(j, mids[j]) for j in layer)

    def clamp(j: int, value: float) -> int:
        lo, hi = bounds[j]
        return int(min(hi, max(lo, round(value))))

    def scaled(base: dict[int, int], layers: list[int], factor: float) -> dict[int, int]:
        return {**base, **{j: clamp(j, base[j] * factor) for j in layers}}

    def result(mids: dict[int, int], latency_ms: float, feasible: bool, message: str) -> ScalingResult:
        widths = [dict(w) for w in subnet.widths]
        for j, mid in mids.items():
            widths[j][layer[j][1]] = mid
        return ScalingResult(subnet.with_widths(widths), latency_ms, target_ms, feasible, message, band)

    mids = {j: clamp(j, subnet.widths[j][name]) for j, _, name in active}
    band = width_band(table, space, subnet)
    if band[0] > target_ms:
        message = (
            f"target {target_ms:.3f} ms unreachable with the current ops and depths: even the narrowest "
            f"widths take {band[0]:.3f} ms"
        )
        return result({j: bounds[j][0] for j in layer}, band[0], False, message)
    if latency(mids) > target_ms:  # shrink everything together until under the target
        f = _largest(lambda x: latency(scaled(mids, list(layer), x)) <= target_ms, 0.0, 1.0)
        mids = scaled(mids, list(layer), f)
    for s in range(len(space.stages)):  # fill back up: stages s.., with finer steps as s grows
        layers = [j for j, p, _ in active if p.stage >= s]
        top = max(bounds[j][1] / mids[j] for j in layers)
        g = _largest(lambda x, ls=layers, base=mids: latency(scaled(base, ls, x)) <= target_ms, 1.0, top)
        mids = scaled(mids, layers, g)
    mids = _widen_layers(mids, bounds, block, target_ms - fixed)
    final = latency(mids)
    message = f"{final:.3f} ms for a target of {target_ms:.3f} ms ({100 * (target_ms - final) / target_ms:.2f}% below)"
    return result(mids, final, final <= target_ms, message)


@dataclass
class Fit:
    """What :func:`fit_to_target` reached: the scaled result and the depth and op changes made."""

    scaling: ScalingResult
    notes: list[str]

    @property
    def subnet(self) -> Subnet:
        return self.scaling.subnet


@dataclass(frozen=True)
class FitProblem:
    """What landing a subnet on a latency target works from (:func:`~.target_fit.fit_to_target`
    and the walk it falls back on): the table, the space at the table's resolution, the search's
    probabilities (``depth_probs[s][d - 1]``: stage ``s`` at depth ``d``; ``op_probs[j][i]``: op
    ``i`` at layer ``j``), the target and how far below it a result may land."""

    table: LatencyTable
    space: SearchSpace
    depth_probs: list[list[float]]
    op_probs: list[list[float]]
    target_ms: float
    tolerance: float = 0.01

    def scale(self, subnet: Subnet) -> ScalingResult:
        """Elasticity-scaling of ``subnet`` to the target."""
        return elasticity_scale(self.table, self.space, subnet, self.target_ms)
