"""Which channel multiple a runtime rewards on this machine: the ``latency.channel_block`` to use.

Times blocks of the TF-NAS space at every expanded width over a range (batch 1, one thread) and
prints, per width class (multiples of 16, of 8 but not 16, of 4 but not 8, of 2 but not 4, odd),
the median latency relative to a straight line through all widths. A class far below the line is
a fast path of the runtime's kernels (a blocked layout or a vectorised channel loop); the table
should price it apart: set ``latency.channel_block`` to the smallest multiple whose class and all
coarser ones are fast.

    .venv/bin/python benchmarks/channel_alignment.py [--runtime onnxruntime]
"""

from __future__ import annotations

import argparse

import numpy as np

from tfnas_kedro.nas.arch import BlockSpec
from tfnas_kedro.nas.blocks import MBInvRes
from tfnas_kedro.nas.profiler import Profiler, ProfilerSettings

# (input size, in, out, kernel, SE width, widths): one block per stage kind of the TF-NAS space at 224
BLOCKS = [
    (56, 24, 24, 3, 0, range(48, 121)),
    (28, 40, 40, 3, 0, range(120, 201)),
    (14, 80, 80, 5, 160, range(240, 321)),
]
CLASSES = {
    "multiple of 16": lambda m: m % 16 == 0,
    "of 8, not 16": lambda m: m % 8 == 0 and m % 16 != 0,
    "of 4, not 8": lambda m: m % 4 == 0 and m % 8 != 0,
    "of 2, not 4": lambda m: m % 2 == 0 and m % 4 != 0,
    "odd": lambda m: m % 2 == 1,
}


def class_residuals(profiler: Profiler, hw: int, cin: int, cout: int, kernel: int, se: int, mids) -> dict[str, float]:
    mids = np.asarray(list(mids))
    blocks = [
        MBInvRes(BlockSpec(kernel=kernel, in_=cin, mid=int(m), se=se, out=cout, stride=1, act="swish")) for m in mids
    ]
    ms = np.array([t.ms for t in profiler.time_modules(blocks, [(cin, hw, hw)] * len(blocks))])
    line = np.polyval(np.polyfit(mids, ms, 1), mids)
    residual = ms / line - 1
    return {name: float(np.median(residual[[test(int(m)) for m in mids]])) for name, test in CLASSES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=["torch", "onnxruntime", "executorch"], default="torch")
    args = parser.parse_args()
    profiler = Profiler(ProfilerSettings(runtime=args.runtime, rounds=5, repeats=3))
    print(f"runtime {args.runtime}: median latency of each width class against a line through all widths")
    print(f"{'block':<36}" + "".join(f"{name:>16}" for name in CLASSES))
    for hw, cin, cout, kernel, se, mids in BLOCKS:
        residuals = class_residuals(profiler, hw, cin, cout, kernel, se, mids)
        label = f"{hw}x{hw} {cin}->[{mids.start}..{mids.stop - 1}]->{cout} k{kernel} se{se}"
        print(f"{label:<36}" + "".join(f"{100 * r:>+15.1f}%" for r in residuals.values()))


if __name__ == "__main__":
    main()
