"""Random networks of a space: those a latency table is calibrated on, and those it is checked on
when no published network lies in its spaces."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from .arch import ArchDescription
from .latency import LatencyTable
from .space import SearchSpace
from .zoo import zoo_arch

logger = logging.getLogger(__name__)
# random networks a table is checked on when no published model lies in its spaces: as many as
# the published models of one space (TF-NAS-A to D)
HELD_OUT_RANDOM = 4
HELD_OUT_SEED_OFFSET = 7919  # held-out networks never repeat the calibration's (drawn with ``seed``)


def _on_block(mid: int, lo: int, hi: int, block: int) -> int:
    """The multiple of ``block`` nearest ``mid`` within ``[lo, hi]`` (``mid`` when there is none)."""
    nearest = min(max(round(mid / block) * block, -(-lo // block) * block), hi // block * block)
    return nearest if lo <= nearest <= hi else mid


def sample_architectures(
    space: SearchSpace, count: int, seed: int, num_classes: int, channel_block: int = 0
) -> list[ArchDescription]:
    """``count`` random architectures of ``space`` (seeded) that span the space: from shallow to
    deep and from narrow to wide. Network ``n`` gets a depth fill and a width fill, each spread
    evenly over ``(0, 1)`` across the networks in random order; a stage's depth is binomial around
    its fill, a width beta-distributed around its fill within the op's range.

    Why not uniform depths and widths: their sums concentrate in the middle of the space (total
    depths of 11-14 blocks in 17 of 19 positions), while published models sit at its edges
    (TF-NAS's ten have 16-19 blocks and mean expansions of 3.2-6.9 against the samples' 3.9-5.3).
    At 224 in eager PyTorch the calibration's residual grew with depth and the ten came out
    +1.5% to +2.1% over their measured latency: the fit was extrapolating.

    With ``channel_block``, network ``n`` has each width moved onto a multiple of it with
    probability about ``n / count``, from none to all, as published and searched models have some
    or all of theirs: a calibration that saw only random widths, which are almost all off the
    multiples, over-predicts networks on them (they run faster on blocked layouts)."""
    rng = np.random.default_rng(seed)
    positions = space.stage_positions()
    depth_fill = (rng.permutation(count) + 0.5) / count
    width_fill = (rng.permutation(count) + 0.5) / count
    archs = []
    for n in range(count):
        depths = [s.min_depth + int(rng.binomial(s.max_depth - s.min_depth, depth_fill[n])) for s in space.stages]
        ops, mids = [], []
        for stage_positions, depth in zip(positions, depths, strict=True):
            names = [str(rng.choice(stage_positions[d].ops)) for d in range(depth)]
            ranges = [space.ops[name].mid_range(stage_positions[d].cin) for d, name in enumerate(names)]
            ops.append(names)
            fills = rng.beta(4 * width_fill[n], 4 * (1 - width_fill[n]), size=len(ranges))
            widths = [lo + int(round(f * (hi - lo))) for f, (lo, hi) in zip(fills, ranges, strict=True)]
            if channel_block:
                share = (n + 0.5) / count
                widths = [_on_block(m, lo, hi, channel_block) if rng.random() < share else m
                          for m, (lo, hi) in zip(widths, ranges, strict=True)]  # fmt: skip
            mids.append(widths)
        archs.append(space.build_arch(depths, ops, mids, name=f"sample-{n:02d}", num_classes=num_classes))
    return archs


def sample_covering(
    spaces: Sequence[SearchSpace], count: int, seed: int, num_classes: int, channel_block: int = 0
) -> list[ArchDescription]:
    """``count`` random architectures split evenly over ``spaces`` (every space the table prices):
    a calibration fitted on one space's networks is biased on another's when their blocks differ
    in kind (with and without SE, say), so each space the table covers gets its share."""
    archs = []
    for i, space in enumerate(spaces):
        share = count // len(spaces) + (i < count % len(spaces))
        for a in sample_architectures(space, share, seed + i, num_classes, channel_block):
            archs.append(a.model_copy(update={"name": f"{a.name}-{space.name}" if len(spaces) > 1 else a.name}))
    return archs


def fidelity_networks(
    table: LatencyTable, model_names: Sequence[str], spaces: Sequence[SearchSpace] = (), seed: int = 0
) -> list[ArchDescription]:
    """The networks a table is checked on: the published ``model_names`` that lie in its spaces;
    where none does (a space of your own), :data:`HELD_OUT_RANDOM` random networks of ``spaces``,
    drawn with another seed than the calibration's ``seed``."""
    m = table.meta
    archs = [zoo_arch(n, num_classes=m.num_classes, resolution=m.resolution) for n in model_names]
    archs = [a for a in archs if a.space in m.spaces]
    if archs:
        return archs
    if not spaces:
        raise ValueError(f"no published model of {list(model_names)} lies in the table's spaces {m.spaces}")
    logger.warning(
        "no published model lies in the table's spaces %s: the table is checked on %d random networks of "
        "them, held out of its calibration", m.spaces, HELD_OUT_RANDOM,
    )  # fmt: skip
    spaces = [s.at_resolution(m.resolution) for s in spaces]
    sampled = sample_covering(spaces, HELD_OUT_RANDOM, seed + HELD_OUT_SEED_OFFSET, m.num_classes, m.channel_block)
    return [a.model_copy(update={"name": f"held-out-{i}"}) for i, a in enumerate(sampled)]
