"""How coarse a latency table's width grid can be in a runtime: the ``latency.width_step`` to use.

Times blocks of the TF-NAS space at every expanded width over a range (the blocks of
``channel_alignment.py``: one per stage kind at 224 px, batch 1, one thread), then prices every
width the way a table with ``width_step`` S would: from the widths that table measures
(:func:`~tfnas_kedro.nas.table_build.measured_widths`) by the table's own interpolation
(:func:`~tfnas_kedro.nas.latency.interpolate_width`). Prints, per step, how many widths the grid
measures and the median and largest |error| of its prices over the widths it did not measure. The
error of the finest step is mostly the timings' own noise; a coarser step costs what it adds.

    .venv/bin/python benchmarks/width_grid.py --runtime executorch [--steps 8 16 32 64 96] [--block 16]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from channel_alignment import BLOCKS

from tfnas_kedro.nas.arch import BlockSpec
from tfnas_kedro.nas.blocks import MBInvRes
from tfnas_kedro.nas.latency import interpolate_width
from tfnas_kedro.nas.profiler import Profiler, ProfilerSettings
from tfnas_kedro.nas.table_build import measured_widths


def grid_errors(mids: np.ndarray, ms: np.ndarray, step: int, block: int) -> tuple[int, np.ndarray]:
    """How many widths a table with ``step`` measures in ``mids``' range, and the relative error
    of its prices at the others."""
    grid = np.array(measured_widths(int(mids[0]), int(mids[-1]), step, block))
    at = {int(m): t for m, t in zip(mids, ms, strict=True)}
    measured = np.array([at[m] for m in grid])
    rest = [m for m in mids if m not in set(grid)]
    return len(grid), np.array([interpolate_width(grid, measured, int(m), block) / at[int(m)] - 1 for m in rest])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=["torch", "onnxruntime", "executorch"], default="torch")
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64, 96])
    parser.add_argument("--block", type=int, default=16, help="the table's channel block (0: one grid)")
    args = parser.parse_args()
    profiler = Profiler(ProfilerSettings(runtime=args.runtime, rounds=5, repeats=3))
    errors: dict[int, list[np.ndarray]] = {step: [] for step in args.steps}
    measured: dict[int, int] = dict.fromkeys(args.steps, 0)
    started, widths, spreads = time.perf_counter(), 0, []
    for hw, cin, cout, kernel, se, span in BLOCKS:
        mids = np.arange(span.start, span.stop)
        specs = [BlockSpec(kernel=kernel, in_=cin, mid=int(m), se=se, out=cout, stride=1, act="swish") for m in mids]
        blocks = [MBInvRes(spec) for spec in specs]
        timings = profiler.time_modules(blocks, [(cin, hw, hw)] * len(blocks))
        ms = np.array([t.ms for t in timings])
        spreads += [t.spread for t in timings]
        widths += len(mids)
        for step in args.steps:
            count, error = grid_errors(mids, ms, step, args.block)
            measured[step] += count
            errors[step].append(error)
    seconds, spread = time.perf_counter() - started, 100 * np.median(spreads)
    print(f"runtime {args.runtime}, channel block {args.block}: {widths} widths of {len(BLOCKS)} blocks timed "
          f"in {seconds:.0f} s (median spread of a timing {spread:.1f}%)")  # fmt: skip
    print(f"{'width step':>10} {'measured':>9} {'median |error|':>15} {'max |error|':>12} {'signed median':>14}")
    for step in args.steps:
        error = np.concatenate(errors[step])
        print(f"{step:>10} {measured[step]:>9} {100 * np.median(np.abs(error)):>14.1f}% "
              f"{100 * np.abs(error).max():>11.1f}% {100 * np.median(error):>+13.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
