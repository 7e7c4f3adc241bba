"""Latency lookup tables: measured per device, interpolated over widths, calibrated end to end.

A table holds, for every block a search space can produce at one input resolution, the latency of
that block measured on a grid of expanded widths (interpolated linearly between grid points), and a
``base`` for the parts every network shares (stem; head conv, pooling and classifier). Blocks timed
in isolation run with hot caches and do not add up to the whole network; :func:`~.calibration.calibrate`
fits a scale for the base and one per feature-map size on whole networks sampled from the space and
keeps the residuals, so predictions are of end-to-end latency.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from .arch import ArchDescription, BlockSpec, HeadSpec
from .blocks import ConvBNAct, MBInvRes
from .cost import block_params
from .errors import ConfigError
from .profiler import Profiler, ProfilerSettings
from .profilers import make_profiler
from .runtimes import default_channel_block, runtime_info
from .space import SearchSpace
from .table_meta import LatencyMeta

logger = logging.getLogger(__name__)

KEY_COLUMNS = ["input_hw", "cin", "cout", "stride", "act", "kernel", "se"]


def block_key(block: BlockSpec, input_hw: int) -> tuple:
    """What a block's latency depends on besides its expanded width ``mid``."""
    return (int(input_hw), block.in_, block.out, block.stride, block.act, block.kernel, block.se)


def block_spec(key: tuple, mid: int) -> BlockSpec:
    """The block a table key stands for, at expanded width ``mid``."""
    _, cin, cout, stride, act, kernel, se = key
    return BlockSpec(kernel=kernel, in_=cin, mid=mid, se=se, out=cout, stride=stride, act=act)


def format_key(key: tuple) -> str:
    hw, cin, cout, stride, act, kernel, se = key
    return f"{hw}x{hw} {cin}->{cout} s{stride} {act} k{kernel} se{se}"


class LatencyTable:
    """Measured block latencies of one device at one resolution; prices architecture descriptions."""

    def __init__(self, meta: LatencyMeta, entries: pd.DataFrame):
        self.meta = meta
        self.entries = entries.sort_values([*KEY_COLUMNS, "mid"]).reset_index(drop=True)
        self._grid = {
            tuple(k): (g["mid"].to_numpy(), g["ms"].to_numpy())
            for k, g in self.entries.groupby(KEY_COLUMNS, sort=False)
        }

    # --- lookup ----------------------------------------------------------------------------------
    def raw_block_ms(self, block: BlockSpec, input_hw: int) -> float:
        """The block's measured (uncalibrated) latency, interpolated linearly between grid widths."""
        key = block_key(block, input_hw)
        if key not in self._grid:
            raise KeyError(
                f"no latency entry for block {format_key(key)}: the table covers spaces {self.meta.spaces} "
                f"at resolution {self.meta.resolution}; build it for the space this architecture comes from"
            )
        mids, ms = self._grid[key]
        if not mids[0] <= block.mid <= mids[-1]:
            raise KeyError(f"mid {block.mid} outside the measured range [{mids[0]}, {mids[-1]}] of {format_key(key)}")
        b = self.meta.channel_block
        if b:  # a width on the blocked layout or off it is priced from widths of its own kind
            same = (mids % b == 0) == (block.mid % b == 0)
            if same.any() and mids[same][0] <= block.mid <= mids[same][-1]:  # ...where they bracket it
                mids, ms = mids[same], ms[same]
        return float(np.interp(block.mid, mids, ms))

    def scale_key(self, block: BlockSpec, input_hw: int, by_se: bool | None = None) -> str:
        """Which calibration scale a block takes: its input size; with a channel block whether its
        width is on it; with ``by_se`` (as calibrated, by default) whether it has SE: ``56``,
        ``56:on`` / ``56:off``, ``56:on:se``."""
        b = self.meta.channel_block
        key = f"{int(input_hw)}:{'on' if block.mid % b == 0 else 'off'}" if b else str(int(input_hw))
        by_se = self.meta.calibration.by_se if by_se is None else by_se
        return f"{key}:se" if by_se and block.se else key

    def block_scale(self, block: BlockSpec, input_hw: int) -> float:
        """The calibration's factor for this block (1 before calibration)."""
        c = self.meta.calibration
        return float(c.scales.get(self.scale_key(block, input_hw), c.scale))

    def block_ms(self, block: BlockSpec, input_hw: int) -> float:
        """The block's latency in a whole network (calibration applied): its scaled isolated
        latency, plus the time a network spends fetching its weights, which an isolated block
        timed again and again finds in cache (``ms_per_mparam``, :func:`~.calibration.calibrate`)."""
        per_mparam = self.meta.calibration.ms_per_mparam
        fetch = per_mparam * block_params(block) / 1e6 if per_mparam else 0.0
        return self.block_scale(block, input_hw) * self.raw_block_ms(block, input_hw) + fetch

    @property
    def fixed_ms(self) -> float:
        """Latency of what every network shares (stem; head conv, pooling, classifier), calibrated."""
        return self.meta.calibration.base_scale * self.meta.base_ms

    @property
    def fidelity_bound(self) -> float | None:
        """The relative error a network this table prices is held to: the largest error it showed
        on any network timed when it was checked, held-out published models and calibration
        networks the fit kept alike, or the noise floor if larger (a measurement cannot be held
        closer than the machine repeats itself); None before a check.

        Why not the held-out models alone: a new network exceeds the largest error of ``n``
        others about once in ``n + 1`` tries even when nothing is wrong; at the demo's scale, with
        four held-out models, a searched network fell outside their 4.4% once in two tries."""
        c = self.meta.calibration
        if c.held_out is None:
            return None
        return max(c.held_out.max_abs_error, c.held_out.noise_floor, c.max_abs_residual_fitted)

    def check_compatible(self, arch: ArchDescription) -> None:
        m = self.meta
        problems = []
        if arch.space and arch.space not in m.spaces:
            problems.append(f"architecture from space {arch.space!r}, table built for {m.spaces}")
        if arch.resolution != m.resolution:
            problems.append(f"architecture at resolution {arch.resolution}, table measured at {m.resolution}")
        if arch.num_classes != m.num_classes:
            problems.append(f"architecture with {arch.num_classes} classes, table's classifier has {m.num_classes}")
        if arch.stem != m.stem or arch.head != m.head:
            problems.append("stem or head differ from the table's")
        if problems:
            raise ConfigError(
                f"latency table ({m.device_name}, {m.device}) cannot price {arch.name or 'architecture'}: "
                + "; ".join(problems)
            )

    def predict(self, arch: ArchDescription, *, calibrated: bool = True) -> float:
        """End-to-end latency of ``arch`` in ms: base + sum of its blocks (calibrated by default)."""
        self.check_compatible(arch)
        if not calibrated:
            return self.meta.base_ms + self.blocks_ms(arch)
        return self.fixed_ms + sum(
            self.block_ms(b, hw) for b, hw in zip(arch.blocks, arch.feature_sizes(), strict=False)
        )

    def blocks_ms(self, arch: ArchDescription) -> float:
        """Sum of the measured (uncalibrated) latencies of ``arch``'s blocks."""
        return sum(self.raw_block_ms(b, hw) for b, hw in zip(arch.blocks, arch.feature_sizes(), strict=False))

    def check_device(
        self,
        device: str,
        resolution: int | None = None,
        space: str | None = None,
        runtime: str | None = None,
        runtime_version: str | None = None,
    ) -> None:
        """Stop with the mismatch named when this table was built for another device, resolution,
        space or runtime (a table prices one runtime's program); for ExecuTorch, whose programs
        are lowered anew by each release, also another version (``runtime_version``, the one
        installed here)."""
        m = self.meta
        if device != m.device:
            raise ConfigError(
                f"latency table measured on {m.device!r} ({m.device_name}), but the target device is {device!r}: "
                f"set latency.device to the table's (a device set in conf/local must stay there while its table "
                f"is used), or rebuild the table on {device!r}"
            )
        if resolution is not None and resolution != m.resolution:
            raise ConfigError(f"latency table measured at resolution {m.resolution}, but {resolution} is configured")
        if space is not None and space not in m.spaces:
            raise ConfigError(f"latency table built for search spaces {m.spaces}, but {space!r} is configured")
        timed_in, details = m.runtime.name, m.runtime.model_dump(exclude_none=True)
        if runtime is not None and runtime != timed_in:
            raise ConfigError(
                f"latency table timed in {timed_in} ({details}), but runtime {runtime!r} is configured: "
                f"rebuild the table in {runtime}, or configure runtime {timed_in}"
            )
        if timed_in == "executorch" and runtime_version is not None and runtime_version != m.runtime.version:
            raise ConfigError(
                f"latency table timed in executorch {m.runtime.version}, but executorch {runtime_version} is "
                f"installed: rebuild the table with {runtime_version}, or install executorch=={m.runtime.version}"
            )

    def check_timing(
        self,
        settings: ProfilerSettings,
        runtime_version: str | None = None,
        *,
        resolution: int | None = None,
        space: str | None = None,
    ) -> None:
        """Stop, naming both, unless ``settings`` time networks as this table's entries were timed:
        on its device, in its runtime (and ExecuTorch release), at its batch size and thread count.

        Why: a network timed anywhere else is compared with a prediction it cannot match. Timed on
        this machine in eager PyTorch against a table of an ssh device in onnxruntime, a network
        read 6.2 ms against 2.9 ms, and the drift correction passed the 2x gap off as drift."""
        m = self.meta
        self.check_device(settings.device, resolution, space, settings.runtime, runtime_version)
        differ = []
        if settings.batch_size != m.batch_size:
            differ.append(f"batch size {m.batch_size} in the table, {settings.batch_size} configured")
        if m.threads and settings.threads != m.threads:  # 0: a GPU table, where threads do not apply
            differ.append(f"{m.threads} threads in the table, {settings.threads} configured")
        if differ:
            raise ConfigError(
                f"latency table timed on {m.device!r} with other settings than this run's: {'; '.join(differ)}. "
                "Set latency.batch_size and latency.threads as the table was built, or rebuild the table"
            )

    # --- search -----------------------------------------------------------------------------------
    def layer_matrix(self, space: SearchSpace, widths: list[dict[str, int]] | None = None) -> list[torch.Tensor]:
        """Per searchable position, the calibrated latency of each candidate op at its width
        (``widths[j][op]``; the op's initial width where omitted), as tensors for the search."""
        rows = []
        for j, pos in enumerate(space.positions()):
            values = []
            for name in pos.ops:
                mid = widths[j][name] if widths is not None else None
                values.append(self.block_ms(space.block_spec(pos, name, mid), pos.input_hw))
            rows.append(torch.tensor(values, dtype=torch.float32))
        return rows

    def fixed_blocks_ms(self, space: SearchSpace) -> float:
        return sum(self.block_ms(block, hw) for block, hw in space.fixed_block_inputs())

    def reachable_range(self, space: SearchSpace) -> tuple[float, float]:
        """The smallest and largest latency any architecture of ``space`` can have on this table."""
        space = space.at_resolution(self.meta.resolution)
        low = high = self.fixed_ms + self.fixed_blocks_ms(space)
        for stage, positions in zip(space.stages, space.stage_positions(), strict=True):
            for depth, pos in enumerate(positions):
                costs = []
                for name in pos.ops:
                    for mid in space.ops[name].mid_range(pos.cin):
                        costs.append(self.block_ms(space.block_spec(pos, name, mid), pos.input_hw))
                if depth < stage.min_depth:
                    low += min(costs)
                high += max(costs)
        return low, high


def expected_latency(
    layer_ms: list[torch.Tensor],
    op_probs: list[torch.Tensor],
    depth_probs: list[torch.Tensor],
    stage_of_layer: list[int],
    fixed_ms: float,
) -> torch.Tensor:
    """Differentiable expected latency (docs/method.md section 6):
    ``fixed + sum_s sum_d P(depth_s = d + 1) * sum_{j <= d} sum_i P(op_j = i) * LUT_{j,i}(width_{j,i})``.

    ``layer_ms[j]`` are the per-op latencies of layer ``j`` at the current widths
    (:meth:`LatencyTable.layer_matrix`), ``op_probs[j]`` the op distribution of layer ``j`` and
    ``depth_probs[s]`` the depth distribution of stage ``s`` (index ``d`` = depth ``d + 1``).
    """
    total = torch.as_tensor(fixed_ms, dtype=torch.float32, device=op_probs[0].device)
    layer_costs = [(p * ms.to(p.device)).sum() for p, ms in zip(op_probs, layer_ms, strict=True)]
    for s, probs in enumerate(depth_probs):
        costs = torch.stack([c for c, stage in zip(layer_costs, stage_of_layer, strict=True) if stage == s])
        total = total + (probs * torch.cumsum(costs, 0)).sum()
    return total


# --- building ---------------------------------------------------------------------------------------
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
                grid = aligned_grid(lo, hi, width_step, channel_block) if channel_block else _grid(lo, hi, width_step)
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


def build_latency_table(
    spaces: list[SearchSpace],
    *,
    resolution: int,
    num_classes: int,
    width_step: int,
    settings: ProfilerSettings,
    channel_block: int | None = None,
    group_size: int = 64,
    curve_tolerance: float | None = 0.2,
) -> LatencyTable:
    """Measure every block the spaces can produce at ``resolution`` on ``settings.device``; with
    ``channel_block``, widths on and off its multiples are measured and priced apart (None: the
    runtime's, :data:`~.runtimes.CHANNEL_BLOCK`; 0: one grid). Entries are
    timed in shuffled groups of ``group_size`` (:func:`timing_groups`); those more than
    ``curve_tolerance`` off the line through their neighbours are timed again (None: not)."""
    started = time.perf_counter()
    channel_block = default_channel_block(settings.runtime) if channel_block is None else channel_block
    spaces = [s.at_resolution(resolution) for s in spaces]
    first = spaces[0]
    for other in spaces[1:]:
        if (other.stem, other.head, other.in_channels) != (first.stem, first.head, first.in_channels):
            raise ConfigError(f"spaces {first.name!r} and {other.name!r} differ in stem or head; build one table each")
    profiler = make_profiler(settings)  # this machine, or the device named by ssh:// or adb://
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
    device = profiler.device
    meta = LatencyMeta(
        device=str(settings.device),
        device_name=profiler.device_name,
        batch_size=settings.batch_size,
        threads=settings.threads if device.type == "cpu" else 0,
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
