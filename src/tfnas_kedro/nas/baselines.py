"""The baselines a search must beat: random architectures of the same latency, and the published
model closest in latency, both priced on the same lookup table."""

from __future__ import annotations

import numpy as np

from .arch import ArchDescription
from .elastic import elasticity_scale, width_band
from .latency import LatencyTable
from .space import SearchSpace
from .subnet import Subnet
from .zoo import zoo_arch, zoo_names


def random_architecture(
    table: LatencyTable,
    space: SearchSpace,
    target_ms: float,
    num_classes: int,
    rng: np.random.Generator,
    *,
    name: str = "random",
    tolerance: float = 0.01,
    tries: int = 20_000,
) -> ArchDescription:
    """:func:`random_subnet`'s architecture."""
    subnet, _ = random_subnet(table, space, target_ms, rng, tolerance=tolerance, tries=tries)
    return subnet.to_arch(space.at_resolution(table.meta.resolution), num_classes, name=name)


def random_subnet(
    table: LatencyTable,
    space: SearchSpace,
    target_ms: float,
    rng: np.random.Generator,
    *,
    tolerance: float = 0.01,
    tries: int = 20_000,
) -> tuple[Subnet, int]:
    """A subnet drawn uniformly from the space (depth per stage, op per layer, a starting width per
    op), then fitted to ``target_ms`` on ``table`` by elasticity-scaling, as the search's own result
    is: within ``tolerance`` below the target. Draws whose depths and ops cannot reach the target by
    widths alone are drawn again (at most ``tries`` draws): the result is uniform over the depths
    and ops that can meet the target. Far from the middle of the range few draws can (on the demo's
    table about 1 in 700 at 75% of the range), so a draw is first checked by its narrowest and
    widest latency, which is cheap. Returns the subnet and the number of draws it took (all but
    the last rejected)."""
    space = space.at_resolution(table.meta.resolution)
    positions = space.positions()
    for draw in range(1, tries + 1):
        depths = [int(rng.integers(s.min_depth, s.max_depth + 1)) for s in space.stages]
        ops = [int(rng.integers(len(p.ops))) for p in positions]
        widths = [{n: _uniform_width(space, p, n, rng) for n in p.ops} for p in positions]
        subnet = Subnet.of(depths, ops, widths)
        narrowest, widest = width_band(table, space, subnet)
        if not narrowest <= target_ms <= widest / (1 - tolerance):
            continue
        scaled = elasticity_scale(table, space, subnet, target_ms)
        if scaled.feasible and scaled.gap <= tolerance:
            return scaled.subnet, draw
    raise ValueError(
        f"no random architecture of space {space.name!r} reached {target_ms:.3f} ms within {100 * tolerance:.0f}% "
        f"in {tries} draws; choose a target inside the space's range {table.reachable_range(space)}"
    )


def _uniform_width(space: SearchSpace, position, op: str, rng: np.random.Generator) -> int:
    lo, hi = space.ops[op].mid_range(position.cin)
    return int(rng.integers(lo, hi + 1))


def closest_zoo_model(table: LatencyTable, target_ms: float, num_classes: int) -> tuple[ArchDescription, float]:
    """The published model that the table can price (same space, resolution and classifier size)
    whose table latency is closest to ``target_ms``, with that latency."""
    priced = []
    for name in zoo_names():
        arch = zoo_arch(name, num_classes=num_classes).model_copy(update={"resolution": table.meta.resolution})
        try:
            priced.append((abs(table.predict(arch) - target_ms), table.predict(arch), arch))
        except (KeyError, ValueError):  # a model of another space than the table's
            continue
    if not priced:
        raise ValueError(f"the table ({table.meta.spaces}) prices none of the published models")
    _, ms, arch = min(priced, key=lambda item: item[0])
    return arch, ms
