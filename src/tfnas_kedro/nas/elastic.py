"""Elasticity-scaling: fit the widths of the derived architecture to the latency target.

docs/method.md section 5. Given the current strongest op per layer and depth per stage, widths
are shrunk together (in proportion to each width) until the table latency is below the target,
then suffixes of the stages (all stages, then stages 2.., 3.., ...) are expanded with finer and
finer steps to fill back up to it, and a last pass widens single layers into what is left. Widths
stay in each op's range. If even the narrowest widths miss the target, the result says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .latency import LatencyTable
from .space import LayerPosition, SearchSpace
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


def elasticity_scale(table: LatencyTable, space: SearchSpace, subnet: Subnet, target_ms: float) -> ScalingResult:
    """New widths for the chosen ops of the active layers (other ops keep theirs)."""
    space = space.at_resolution(table.meta.resolution)
    active = subnet.active(space)
    layer = {j: (p, name) for j, p, name in active}
    bounds = {j: space.ops[name].mid_range(p.cin) for j, p, name in active}
    fixed = table.fixed_ms + table.fixed_blocks_ms(space)

    def latency(mids: dict[int, int]) -> float:
        return fixed + sum(table.block_ms(space.block_spec(p, name, mids[j]), p.input_hw) for j, p, name in active)

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
    for j in reversed(list(layer)):  # widen single layers into what is left
        lo = mids[j]
        w = _largest(lambda x, j=j, base=mids: latency({**base, j: int(x)}) <= target_ms, lo, bounds[j][1])
        mids[j] = int(w)
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


class _TargetFitter:
    """The state of one :func:`fit_to_target`: the choices tried, the notes, the best fit so far."""

    def __init__(
        self,
        table: LatencyTable,
        space: SearchSpace,
        depth_probs: list[list[float]],
        op_probs: list[list[float]],
        start: Subnet,
        target_ms: float,
    ):
        self.table, self.space, self.target_ms = table, space, target_ms
        self.depth_probs, self.op_probs, self.start = depth_probs, op_probs, start
        self.positions = space.positions()
        # each op's latency at its narrowest and widest width, per layer: what an op swap moves
        self.extremes = [[self._ends(p, name) for name in p.ops] for p in self.positions]
        self.seen: set[tuple] = set()
        self.notes: list[str] = []
        self.best: Fit | None = None  # the closest result below the target

    def _ends(self, position: LayerPosition, name: str) -> tuple[float, float]:
        space, mids = self.space, self.space.ops[name].mid_range(position.cin)
        return tuple(self.table.block_ms(space.block_spec(position, name, mid), position.input_hw) for mid in mids)

    def scale(self, subnet: Subnet) -> ScalingResult:
        """Elasticity-scaling of ``subnet``'s choice, remembered as tried and as best when it is."""
        self.seen.add(subnet.choice)
        result = elasticity_scale(self.table, self.space, subnet, self.target_ms)
        if result.feasible and (self.best is None or result.gap < self.best.scaling.gap):
            self.best = Fit(result, list(self.notes))
        return result

    def back_to_best(self) -> tuple[Subnet, ScalingResult]:
        """The best choice so far, at the widths the search left (what is scaled from)."""
        self.notes.append(
            f"depth overshoots the target both ways: back to {self.best.scaling.latency_ms:.3f} ms, changing ops"
        )
        return replace(self.best.subnet, widths=self.start.widths), self.best.scaling

    def depth_move(self, subnet: Subnet, step: int, result: ScalingResult) -> Subnet | None:
        """One layer more (``step`` 1) or less (-1) in the stage whose depth distribution leans
        furthest that way, among the stages where that leads somewhere new."""
        depths = subnet.depths
        candidates = [
            s
            for s, stage in enumerate(self.space.stages)
            if stage.min_depth <= depths[s] + step <= stage.max_depth
            and subnet.with_depth(s, depths[s] + step).choice not in self.seen
        ]
        if not candidates:
            return None
        probs = self.depth_probs
        lean = [sum(probs[s][depths[s] :]) if step > 0 else sum(probs[s][: depths[s] - 1]) for s in candidates]
        stage = candidates[max(range(len(candidates)), key=lean.__getitem__)]
        self.notes.append(f"stage {stage + 1} depth {depths[stage]} -> {depths[stage] + step} ({result.message})")
        return subnet.with_depth(stage, depths[stage] + step)

    def op_move(self, subnet: Subnet, step: int, fine: bool, result: ScalingResult) -> Subnet | None:
        """The first op swap of :meth:`op_swaps` that leads somewhere new."""
        for j, i in self.op_swaps(subnet, step, fine):
            moved = subnet.with_op(j, i)
            if moved.choice not in self.seen:
                ops = self.positions[j].ops
                self.notes.append(f"layer {j} op {ops[subnet.ops[j]]} -> {ops[i]} ({result.message})")
                return moved
        return None

    def op_swaps(self, subnet: Subnet, step: int, fine: bool) -> list[tuple[int, int]]:
        """Op changes that move latency in direction ``step``: among the active layers, ops cheaper
        (``step < 0``) or dearer (``step > 0``) at their extreme width than the current one. Most
        probable first, or (``fine``) smallest change first, to close a gap that depth overshoots."""
        end = 1 if step > 0 else 0  # the widest or the narrowest width
        swaps = []
        for j, pos, _ in subnet.active(self.space):
            current = self.extremes[j][subnet.ops[j]][end]
            for i in range(len(pos.ops)):
                change = self.extremes[j][i][end] - current
                if i != subnet.ops[j] and change * step > 0:
                    swaps.append((-abs(change) if fine else self.op_probs[j][i], j, i))
        return [(j, i) for _, j, i in sorted(swaps, reverse=True)]


def fit_to_target(
    table: LatencyTable,
    space: SearchSpace,
    depth_probs: list[list[float]],
    op_probs: list[list[float]],
    subnet: Subnet,
    target_ms: float,
    tolerance: float = 0.01,
) -> Fit:
    """Elasticity-scaling for the final architecture, with depth and then ops as last resorts.

    Widths alone cannot reach a target above what the chosen depths and ops allow at full width
    (or below what they need at their narrowest); a short search may end there. Then the stage
    whose depth distribution leans furthest the needed way changes depth by one; when no depth
    change leads somewhere new (one layer more is too slow even at the narrowest widths, one less
    too fast even at the widest), the most probable op that moves latency the needed way replaces
    the current one. The widths are fitted again after each change, until the result is within
    ``tolerance`` below the target; no choice of depths and ops is tried twice. If that never
    happens, the closest result below the target is returned. Every change is reported.
    """
    space = space.at_resolution(table.meta.resolution)
    fitter = _TargetFitter(table, space, depth_probs, op_probs, subnet, target_ms)
    last_step, ops_only = 0, False
    limit = sum(s.max_depth for s in space.stages) * (1 + max(len(p.ops) for p in fitter.positions))
    for _ in range(limit):
        result = fitter.scale(subnet)
        if result.feasible and result.gap <= tolerance:
            return Fit(result, fitter.notes)
        step = 1 if result.feasible else -1  # too fast: dearer; too slow: cheaper
        if last_step and step != last_step and not ops_only and fitter.best is not None:
            # one layer more overshoots, one less falls short: finer steps come from the ops
            ops_only, step = True, 1
            subnet, result = fitter.back_to_best()
        last_step = step
        moved = None if ops_only else fitter.depth_move(subnet, step, result)
        moved = moved or fitter.op_move(subnet, step, ops_only, result)
        if moved is None:
            break
        subnet = moved
    best = fitter.best
    if best is None:
        return Fit(result, fitter.notes)
    return Fit(best.scaling, best.notes + [f"kept the closest result below the target: {best.scaling.message}"])
