"""What lowering a latency table to ExecuTorch costs, and whether lowering blocks together keeps
their programs: prints, for blocks drawn from the demo table (TF-NAS space at 64 px),

- seconds per block lowered one at a time and in groups of ``--group`` (one pass each,
  :mod:`tfnas_kedro.nas.executorch_groups`), both in this process after a warm-up lowering, and
  their ratio;
- each block's latency from both programs, timed interleaved by the project's harness, and the
  ratio (a grouped program must time as the block lowered alone: near 1.00).

    .venv/bin/python benchmarks/executorch_lowering.py [--blocks 16] [--group 8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tfnas_kedro.nas.blocks import MBInvRes
from tfnas_kedro.nas.executorch_groups import lower_together
from tfnas_kedro.nas.executorch_programs import ExecuTorchCall, lower
from tfnas_kedro.nas.latency import block_spec
from tfnas_kedro.nas.profiler import Profiler, ProfilerSettings
from tfnas_kedro.nas.space import load_search_spaces
from tfnas_kedro.nas.table_build import table_keys, timing_groups


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--group", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_search_spaces(Path("conf/base/parameters_search_spaces.yml"))["tfnas"].at_resolution(64)
    entries = timing_groups(table_keys([space], 32, 16), args.blocks, seed=1)[0]  # a shuffled draw of widths
    blocks = [MBInvRes(block_spec(key, mid)).eval() for key, mid in entries]
    inputs = [torch.randn(1, key[1], key[0], key[0]) for key, _ in entries]
    lower(blocks[0], inputs[0])  # the process's first lowering is slow (imports, caches): not counted
    started = time.perf_counter()
    alone = [lower(b, x) for b, x in zip(blocks, inputs, strict=True)]
    one_by_one = (time.perf_counter() - started) / len(blocks)
    started, grouped = time.perf_counter(), []
    for i in range(0, len(blocks), args.group):
        together = lower_together(blocks[i : i + args.group], inputs[i : i + args.group])
        assert together is not None, "the group did not split into one delegate per block"
        grouped += together
    in_groups = (time.perf_counter() - started) / len(blocks)
    print(f"lowering: {one_by_one:.2f} s per block one at a time, {in_groups:.2f} s in groups of {args.group}: "
          f"{one_by_one / in_groups:.2f}x")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        calls = []
        for n, (x, a, g) in enumerate(zip(inputs, alone, grouped, strict=True)):
            for kind, data in (("alone", a), ("grouped", g)):
                path = Path(folder) / f"{n}_{kind}.pte"
                path.write_bytes(data)
                calls.append(ExecuTorchCall(path, x, threads=1))
        # programs already loaded: the harness calls them as eager modules (its reference is eager;
        # only the ratio of two programs of one block is read)
        profiler = Profiler(ProfilerSettings(runtime="torch", rounds=5))
        timings = profiler.time_modules([_Called(c) for c in calls], [tuple(x.shape[1:]) for x in inputs for _ in "ag"])
    ratios = np.array([timings[2 * n + 1].ms / timings[2 * n].ms for n in range(len(blocks))])
    spread = f"{ratios.min():.3f}..{ratios.max():.3f}"
    print(f"latency, grouped / alone program: median {np.median(ratios):.3f}, range {spread}")


class _Called(torch.nn.Module):
    """A loaded program as the harness's module."""

    def __init__(self, call: ExecuTorchCall):
        super().__init__()
        self.call = call

    def forward(self, x: torch.Tensor) -> None:
        return self.call(x)


if __name__ == "__main__":
    main()
