"""Elasticity-scaling: fit the widths of the derived architecture to the latency target.

docs/method.md section 5. Given the current strongest op per layer and depth per stage, widths
are shrunk together (in proportion to each width) until the table latency is below the target,
then suffixes of the stages (all stages, then stages 2.., 3.., ...) are expanded with finer and
finer steps to fill back up to it, and a last pass widens single layers into what is left. Widths
stay in each op's range. If even the narrowest widths miss the target, the result says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .latency import LatencyTable
from .space import SearchSpace


@dataclass
class ScalingResult:
    widths: list[dict[str, int]]
    latency_ms: float
    target_ms: float
    feasible: bool
    message: str
    # what the same ops and depths take at their narrowest and widest widths: the band widths can reach
    band_ms: tuple[float, float] = (float("nan"), float("nan"))

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


def width_band(table: LatencyTable, space: SearchSpace, depths: list[int], op_index: list[int]) -> tuple[float, float]:
    """The latency of these depths and ops at their narrowest and at their widest widths: the band
    elasticity-scaling can reach without changing them."""
    space = space.at_resolution(table.meta.resolution)
    fixed = table.fixed_ms + table.fixed_blocks_ms(space)
    low = high = fixed
    for j, p in enumerate(space.positions()):
        if p.layer < depths[p.stage]:
            name = p.ops[op_index[j]]
            narrowest, widest = space.ops[name].mid_range(p.cin)
            low += table.block_ms(space.block_spec(p, name, narrowest), p.input_hw)
            high += table.block_ms(space.block_spec(p, name, widest), p.input_hw)
    return low, high


def elasticity_scale(
    table: LatencyTable,
    space: SearchSpace,
    depths: list[int],
    op_index: list[int],
    widths: list[dict[str, int]],
    target_ms: float,
) -> ScalingResult:
    """New widths for the chosen ops of the active layers (other ops keep theirs)."""
    space = space.at_resolution(table.meta.resolution)
    positions = space.positions()
    active = [j for j, p in enumerate(positions) if p.layer < depths[p.stage]]
    chosen = {j: positions[j].ops[op_index[j]] for j in active}
    bounds = {j: space.ops[chosen[j]].mid_range(positions[j].cin) for j in active}
    fixed = table.fixed_ms + table.fixed_blocks_ms(space)

    def latency(mids: dict[int, int]) -> float:
        return fixed + sum(
            table.block_ms(space.block_spec(positions[j], chosen[j], mids[j]), positions[j].input_hw) for j in active
        )

    def clamp(j: int, value: float) -> int:
        lo, hi = bounds[j]
        return int(min(hi, max(lo, round(value))))

    def scaled(base: dict[int, int], layers: list[int], factor: float) -> dict[int, int]:
        return {**base, **{j: clamp(j, base[j] * factor) for j in layers}}

    mids = {j: clamp(j, widths[j][chosen[j]]) for j in active}
    narrowest = {j: bounds[j][0] for j in active}
    band = width_band(table, space, depths, op_index)
    if band[0] > target_ms:
        message = (
            f"target {target_ms:.3f} ms unreachable with the current ops and depths: even the narrowest "
            f"widths take {band[0]:.3f} ms"
        )
        return ScalingResult(_merge(widths, chosen, narrowest), band[0], target_ms, False, message, band)
    if latency(mids) > target_ms:  # shrink everything together until under the target
        f = _largest(lambda x: latency(scaled(mids, active, x)) <= target_ms, 0.0, 1.0)
        mids = scaled(mids, active, f)
    for s in range(len(space.stages)):  # fill back up: stages s.., with finer steps as s grows
        layers = [j for j in active if positions[j].stage >= s]
        top = max(bounds[j][1] / mids[j] for j in layers)
        g = _largest(lambda x, ls=layers, base=mids: latency(scaled(base, ls, x)) <= target_ms, 1.0, top)
        mids = scaled(mids, layers, g)
    for j in reversed(active):  # widen single layers into what is left
        lo = mids[j]
        w = _largest(lambda x, j=j, base=mids: latency({**base, j: int(x)}) <= target_ms, lo, bounds[j][1])
        mids[j] = int(w)
    final = latency(mids)
    message = f"{final:.3f} ms for a target of {target_ms:.3f} ms ({100 * (target_ms - final) / target_ms:.2f}% below)"
    return ScalingResult(_merge(widths, chosen, mids), final, target_ms, final <= target_ms, message, band)


def _merge(widths: list[dict[str, int]], chosen: dict[int, str], mids: dict[int, int]) -> list[dict[str, int]]:
    merged = [dict(w) for w in widths]
    for j, op in chosen.items():
        merged[j][op] = mids[j]
    return merged


def _op_swaps(
    table: LatencyTable, space: SearchSpace, op_probs: list[list[float]], depths, op_index, step: int, fine: bool
) -> list[tuple[int, int]]:
    """Op changes that move latency in direction ``step``: among the active layers, ops cheaper
    (``step < 0``) or dearer (``step > 0``) at their extreme width than the current one. Most
    probable first, or (``fine``) smallest change first, to close a gap that depth overshoots."""
    positions = space.positions()
    swaps = []
    for j, pos in enumerate(positions):
        if pos.layer >= depths[pos.stage]:
            continue

        def extreme(name: str, pos=pos) -> float:
            lo, hi = space.ops[name].mid_range(pos.cin)
            return table.block_ms(space.block_spec(pos, name, hi if step > 0 else lo), pos.input_hw)

        current = extreme(pos.ops[op_index[j]])
        swaps += [(-abs(extreme(name) - current) if fine else op_probs[j][i], j, i) for i, name in enumerate(pos.ops)
                  if i != op_index[j] and (extreme(name) - current) * step > 0]  # fmt: skip
    return [(j, i) for _, j, i in sorted(swaps, reverse=True)]


def fit_to_target(
    table: LatencyTable,
    space: SearchSpace,
    depth_probs: list[list[float]],
    op_probs: list[list[float]],
    depths: list[int],
    op_index: list[int],
    widths: list[dict[str, int]],
    target_ms: float,
    tolerance: float = 0.01,
) -> tuple[list[int], list[int], ScalingResult, list[str]]:
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
    depths, op_index, notes = list(depths), list(op_index), []
    seen: set[tuple] = set()
    best = None  # (result, depths, op_index, number of notes) of the closest result below the target
    last_step, ops_only = 0, False
    limit = sum(s.max_depth for s in space.stages) * (1 + max(len(p.ops) for p in space.positions()))
    for _ in range(limit):
        seen.add((tuple(depths), tuple(op_index)))
        result = elasticity_scale(table, space, depths, op_index, widths, target_ms)
        if result.feasible and (best is None or result.gap < best[0].gap):
            best = (result, list(depths), list(op_index), len(notes))
        too_slow, too_fast = not result.feasible, result.feasible and result.gap > tolerance
        if not (too_slow or too_fast):
            return depths, op_index, result, notes
        step = -1 if too_slow else 1
        if last_step and step != last_step and not ops_only and best is not None:
            # one layer more overshoots, one less falls short: finer steps come from the ops
            ops_only, step = True, 1
            result, depths, op_index = best[0], list(best[1]), list(best[2])
            notes.append(f"depth overshoots the target both ways: back to {result.latency_ms:.3f} ms, changing ops")
        last_step = step
        candidates = [] if ops_only else [
            s
            for s, stage in enumerate(space.stages)
            if stage.min_depth <= depths[s] + step <= stage.max_depth
            and (tuple(depths[:s] + [depths[s] + step] + depths[s + 1 :]), tuple(op_index)) not in seen
        ]  # fmt: skip
        if candidates:
            # the stage with the most probability mass beyond its depth, in the direction needed
            lean = [
                sum(depth_probs[s][depths[s] :]) if step > 0 else sum(depth_probs[s][: depths[s] - 1])
                for s in candidates
            ]
            stage = candidates[max(range(len(candidates)), key=lean.__getitem__)]
            depths[stage] += step
            notes.append(f"stage {stage + 1} depth {depths[stage] - step} -> {depths[stage]} ({result.message})")
            continue
        swaps = [
            (j, i)
            for j, i in _op_swaps(table, space, op_probs, depths, op_index, step, fine=ops_only)
            if (tuple(depths), tuple(op_index[:j] + [i] + op_index[j + 1 :])) not in seen
        ]
        if not swaps:
            break
        j, i = swaps[0]
        notes.append(
            f"layer {j} op {space.positions()[j].ops[op_index[j]]} -> {space.positions()[j].ops[i]} ({result.message})"
        )
        op_index[j] = i
    if best is None:
        return depths, op_index, result, notes
    result, depths, op_index, kept = best
    return depths, op_index, result, notes[:kept] + [f"kept the closest result below the target: {result.message}"]
