"""Latency lookup tables: measured per device, interpolated over widths, calibrated end to end.

A table holds, for every block a search space can produce at one input resolution, the latency of
that block measured on a grid of expanded widths (interpolated linearly between grid points), and a
``base`` for the parts every network shares (stem; head conv, pooling and classifier). Blocks timed
in isolation run with hot caches and do not add up to the whole network; :func:`~.calibration.calibrate`
fits a scale for the base and one per feature-map size on whole networks sampled from the space and
keeps the residuals, so predictions are of end-to-end latency.

This module prices; :mod:`.table_build` builds a table, timing it with a profiler of this machine
or of a device (:mod:`.profilers`). Pricing imports neither, so reading a table needs no timer.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from .arch import ArchDescription, BlockSpec
from .cost import block_params
from .errors import ConfigError
from .profiler import ProfilerSettings
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


def interpolate_width(mids: np.ndarray, ms: np.ndarray, mid: int, channel_block: int = 0) -> float:
    """The latency at width ``mid`` from widths ``mids`` measured at ``ms`` (sorted), linearly
    between neighbours; with ``channel_block``, a width on the blocked layout or off it is priced
    from widths of its own kind, where they bracket it (a runtime's fast kernels make the two
    kinds two curves)."""
    if channel_block:
        same = (mids % channel_block == 0) == (mid % channel_block == 0)
        if same.any() and mids[same][0] <= mid <= mids[same][-1]:
            mids, ms = mids[same], ms[same]
    return float(np.interp(mid, mids, ms))


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
        return interpolate_width(mids, ms, block.mid, self.meta.channel_block)

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
