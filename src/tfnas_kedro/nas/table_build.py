"""Building a latency table: the widths to time (a grid per block, aligned to the runtime's channel
block), grouped and timed by a profiler of this machine or a device (:func:`~.profilers.make_profiler`),
noisy and off-curve entries timed again; pricing lives in :mod:`.latency`, the profilers below both.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from .arch import HeadSpec
from .blocks import ConvBNAct, MBInvRes
from .errors import ConfigError
from .latency import KEY_COLUMNS, LatencyTable, block_key, block_spec
from .profiler import Profiler, ProfilerSettings
from .profilers import make_profiler
from .runtimes import default_channel_block, default_width_step, runtime_info
from .space import SearchSpace
from .table_meta import LatencyMeta

logger = logging.getLogger(__name__)


class _HeadPart(nn.Module):
    """What follows the last block: 1x1 head conv, global pooling, dropout (inactive) and classifier."""

    def __init__(self, cin: int, head: HeadSpec, num_classes: int):
        super().__init__()
        self.conv = ConvBNAct(cin, head.out, 1, act=head.act)
        self.fc = nn.Linear(head.out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))


def _grid(lo: int, hi: int, step: int) -> list[int]:
    points = list(range(lo, hi + 1, step))
    return points if points[-1] == hi else [*points, hi]


def aligned_grid(lo: int, hi: int, step: int, block: int) -> list[int]:
    """Widths in ``[lo, hi]`` to measure for a table that prices multiples of ``block`` apart: the
    ends, multiples of ``block`` about every ``step`` channels, and as many widths halfway between
    multiples (``block / 2`` past one), which stand for every width off the blocked layout.

    Each kind is measured at both ends of the range, so every width is interpolated between two of
    its own kind. Why: with ``lo`` on a multiple, the first width off it used to be the first
    halfway point, up to ``step`` channels in; a width below that (TF-NAS-D's 65 in 64..128) was
    interpolated between the on-width ``lo`` and that off-width, half the price of its own kind,
    and onnxruntime's TF-NAS-D came out 14-16% under its measured latency."""
    stride = max(block, step - step % block)
    first = -(-lo // block) * block
    aligned = list(range(first, hi + 1, stride))
    if aligned and aligned[-1] != hi // block * block:
        aligned.append(hi // block * block)
    off = [m + block // 2 for m in range(first - block, hi + 1, stride) if lo <= m + block // 2 <= hi]
    off_ends = [w for w in (lo if lo % block else lo + 1, hi if hi % block else hi - 1) if lo <= w <= hi]
    return sorted({lo, hi, *aligned, *off, *off_ends})


def measured_widths(lo: int, hi: int, step: int, channel_block: int = 0) -> list[int]:
    """The widths of ``[lo, hi]`` a table measures: every ``step`` channels, or with a channel
    block, both kinds of width (:func:`aligned_grid`)."""
    return aligned_grid(lo, hi, step, channel_block) if channel_block else _grid(lo, hi, step)


def table_keys(spaces: list[SearchSpace], width_step: int, channel_block: int = 0) -> dict[tuple, list[int]]:
    """Every block key the spaces can produce, with the widths to measure for each (on and off the
    multiples of ``channel_block`` when it is set)."""
    keys: dict[tuple, set[int]] = {}
    for space in spaces:
        for block, hw in space.fixed_block_inputs():
            keys.setdefault(block_key(block, hw), set()).add(block.mid)
        for pos in space.positions():
            for name in pos.ops:
                lo, hi = space.ops[name].mid_range(pos.cin)
                grid = measured_widths(lo, hi, width_step, channel_block)
                keys.setdefault(block_key(space.block_spec(pos, name, lo), pos.input_hw), set()).update(grid)
    return {k: sorted(v) for k, v in keys.items()}


def timing_groups(keys: dict[tuple, list[int]], group_size: int, seed: int = 0) -> list[list[tuple[tuple, int]]]:
    """Every ``(key, width)`` to time, shuffled into groups that are timed in interleaved rounds.

    Why shuffled: a slow moment of a shared machine (another tenant's memory traffic, which the
    reference workload does not feel as much as a large block does) lands on whatever is being
    timed. Timed key by key, it shifted every width of one block together (measured here between
    two builds: whole curves 9-12% apart, systematic for every network using that block, so the
    calibration's held-out error moved from -3% to +4% between sessions); timed in shuffled
    groups, it lands on scattered widths of many blocks, whose errors a network's sum averages out.
    """
    entries = [(key, mid) for key, mids in keys.items() for mid in mids]
    order = np.random.default_rng(seed).permutation(len(entries))
    shuffled = [entries[i] for i in order]
    return [shuffled[i : i + group_size] for i in range(0, len(shuffled), group_size)]


def _key_of(row: pd.Series) -> tuple:
    return tuple(v.item() if isinstance(v, np.generic) else v for v in row[KEY_COLUMNS])


def curve_deviation(entries: pd.DataFrame, channel_block: int = 0) -> np.ndarray:
    """Each entry's relative deviation from the line through its two neighbours on its block's
    curve (widths of its own kind when ``channel_block`` is set); NaN at either end of a curve."""
    deviation = np.full(len(entries), np.nan)
    kind = entries["mid"] % channel_block == 0 if channel_block else pd.Series(True, index=entries.index)
    for _, curve in entries.groupby([*KEY_COLUMNS, kind.rename("on")], sort=False):
        curve = curve.sort_values("mid")
        mids, ms = curve["mid"].to_numpy(float), curve["ms"].to_numpy(float)
        if len(curve) < 3:
            continue
        line = ms[:-2] + (ms[2:] - ms[:-2]) * (mids[1:-1] - mids[:-2]) / (mids[2:] - mids[:-2])
        deviation[entries.index.get_indexer(curve.index[1:-1])] = ms[1:-1] / line - 1.0
    return deviation


def _retime_off_curve(
    entries: pd.DataFrame, profiler: Profiler, channel_block: int, tolerance: float, group_size: int
) -> tuple[pd.DataFrame, int]:
    """Time again the entries more than ``tolerance`` off their curve and keep, of the two
    timings, the one nearer the line through its neighbours (as they stand after the second
    timing). Returns the entries and how many were replaced.

    Why: a block's latency is smooth in its width, but one entry's timing can be off when every
    one of its samples was slow alike, which the profiler's spread check does not see. An entry
    read 3.6x its neighbours here (6.8 ms at width 88 between 1.8 and 1.9 ms), and TF-NAS-A, whose
    width 83 was priced from it, came out 8-19% over its measured latency; that one had a cause
    of its own (:func:`~.allocator.keep_freed_memory`), but the check catches any such entry. In
    the 224 builds after that fix, 17 of 2980 widths lay more than 20% off their curve in eager
    PyTorch (16 read nearer it timed again) and 2 in onnxruntime (1).
    """
    deviation = curve_deviation(entries, channel_block)
    suspects = np.flatnonzero(np.abs(np.nan_to_num(deviation)) > tolerance)
    if not len(suspects):
        return entries, 0
    logger.info(
        "latency table: %d of %d widths lie more than %.0f%% off their block's curve; timing them again",
        len(suspects), len(entries), 100 * tolerance,
    )  # fmt: skip
    again = entries.copy()
    for chunk in range(0, len(suspects), group_size):
        rows = suspects[chunk : chunk + group_size]
        keyed = [(_key_of(entries.iloc[i]), int(entries["mid"].iloc[i])) for i in rows]
        timings = profiler.time_modules(
            [MBInvRes(block_spec(key, mid)) for key, mid in keyed], [(key[1], key[0], key[0]) for key, _ in keyed]
        )
        for i, t in zip(rows, timings, strict=True):
            again.iloc[i, again.columns.get_indexer(["ms", "median_ms", "spread"])] = [t.ms, t.median_ms, t.spread]
    new_deviation = curve_deviation(again, channel_block)
    old_ms, new_ms = entries["ms"].to_numpy(), again["ms"].to_numpy()
    old_deviation = old_ms * (1.0 + new_deviation) / new_ms - 1.0  # the first timing against the same line
    keep_new = np.zeros(len(entries), dtype=bool)
    # nearer by more than rounding: a timing that came out the same is not counted as replaced
    keep_new[suspects] = np.abs(np.nan_to_num(new_deviation[suspects])) < np.abs(old_deviation[suspects]) - 1e-9
    merged = entries.copy()
    merged.loc[keep_new, ["ms", "median_ms", "spread"]] = again.loc[keep_new, ["ms", "median_ms", "spread"]]
    return merged, int(keep_new.sum())


def _one_stem_and_head(spaces: list[SearchSpace]) -> SearchSpace:
    """The first of ``spaces``, which one table serves only if they share its stem and head."""
    first = spaces[0]
    for other in spaces[1:]:
        if (other.stem, other.head, other.in_channels) != (first.stem, first.head, first.in_channels):
            raise ConfigError(f"spaces {first.name!r} and {other.name!r} differ in stem or head; build one table each")
    return first


def build_latency_table(
    spaces: list[SearchSpace],
    *,
    resolution: int,
    num_classes: int,
    settings: ProfilerSettings,
    width_step: int | None = None,
    channel_block: int | None = None,
    group_size: int | None = None,
    curve_tolerance: float | None = 0.2,
) -> LatencyTable:
    """Measure every block the spaces can produce at ``resolution`` on ``settings.device``, its
    widths ``width_step`` apart (None: the runtime's, :data:`~.runtimes.WIDTH_STEP`); with
    ``channel_block``, widths on and off its multiples are measured and priced apart (None: the
    runtime's, :data:`~.runtimes.CHANNEL_BLOCK`; 0: one grid). Entries are timed in shuffled
    groups of ``group_size`` (:func:`timing_groups`; None: the profiler's, a device's batch per
    connection); those more than ``curve_tolerance`` off the line through their neighbours are
    timed again (None: not)."""
    started = time.perf_counter()
    channel_block = default_channel_block(settings.runtime) if channel_block is None else channel_block
    width_step = width_step or default_width_step(settings.runtime)
    spaces = [s.at_resolution(resolution) for s in spaces]
    first = _one_stem_and_head(spaces)
    profiler = make_profiler(settings)  # this machine, or the device named by ssh:// or adb://
    group_size = group_size or profiler.group_size
    final = first.output_size()
    stem = ConvBNAct(first.in_channels, first.stem.out, first.stem.kernel, first.stem.stride, act=first.stem.act)
    head = _HeadPart(first.stages[-1].out, first.head, num_classes)
    base = profiler.time_modules_cached(
        [stem, head], [(first.in_channels, resolution, resolution), (first.stages[-1].out, final, final)]
    )
    keys = table_keys(spaces, width_step, channel_block)
    if settings.runtime == "executorch":
        _lower_programs(settings, keys)
    entries = _time_entries(profiler, timing_groups(keys, group_size), started)
    retimed = 0
    if curve_tolerance is not None:
        entries, retimed = _retime_off_curve(entries, profiler, channel_block, curve_tolerance, group_size)
    meta = LatencyMeta(
        device=str(settings.device),
        device_name=profiler.device_name,
        batch_size=settings.batch_size,
        threads=settings.threads if profiler.device.type == "cpu" else 0,
        resolution=resolution,
        num_classes=num_classes,
        spaces=[s.name for s in spaces],
        stem=first.stem,
        head=first.head,
        width_step=width_step,
        profiler=settings,
        base_ms=base[0].ms + base[1].ms,
        reference_ms=profiler.reference_ms,
        build_seconds=time.perf_counter() - started,
        runtime=runtime_info(settings.runtime, settings.threads) | profiler.runtime_changes(),
        remote_device=profiler.remote_device(),
        channel_block=channel_block,
        curve_retimed=retimed,
    )
    logger.info("latency table: %d keys, %d widths, built in %.0f s", len(keys), len(entries), meta.build_seconds)
    return LatencyTable(meta, entries)


def _lower_programs(settings: ProfilerSettings, keys: dict[tuple, list[int]]) -> None:
    """Lower every entry's ExecuTorch program before any is timed: on every core, with the
    machine to itself afterwards for the timing (programs already cached are not lowered again)."""
    from .executorch_programs import ProgramCache

    cache, total, started = ProgramCache(settings.program_cache), sum(map(len, keys.values())), time.perf_counter()

    def progress(lowered: int) -> None:
        if lowered % 100 == 0:
            elapsed = time.perf_counter() - started
            logger.info("latency table: %d ExecuTorch programs lowered (%.0f s)", lowered, elapsed)

    pairs = (
        (MBInvRes(block_spec(key, mid)), (settings.batch_size, key[1], key[0], key[0]))
        for key, mids in keys.items()
        for mid in mids
    )
    lowered = cache.lower_missing(pairs, workers=os.cpu_count() or 1, progress=progress)
    logger.info(
        "latency table: %d of %d ExecuTorch programs lowered in %.0f s, the others cached in %s",
        lowered, total, time.perf_counter() - started, cache.folder,
    )  # fmt: skip


def _time_entries(profiler: Profiler, groups: list[list[tuple]], started: float) -> pd.DataFrame:
    """Time every ``(key, mid)`` of ``groups``, group by group (a remote device's batch each), with
    "batch k of n" and the time left in the log after every one."""
    rows, total, timing_from = [], sum(len(group) for group in groups), time.perf_counter()
    for n, group in enumerate(groups, start=1):
        modules = [MBInvRes(block_spec(key, mid)) for key, mid in group]
        timings = profiler.time_modules_cached(modules, [(key[1], key[0], key[0]) for key, _ in group])
        rows += [(*key, mid, t.ms, t.median_ms, t.spread) for (key, mid), t in zip(group, timings, strict=True)]
        now = time.perf_counter()  # the time left from the timing alone (lowering programs came before it)
        logger.info(
            "latency table: batch %d of %d, %d/%d widths measured (%.0f s, ~%.0f s left)",
            n, len(groups), len(rows), total, now - started, (now - timing_from) * (len(groups) / n - 1),
        )  # fmt: skip
    return pd.DataFrame(rows, columns=[*KEY_COLUMNS, "mid", "ms", "median_ms", "spread"])
