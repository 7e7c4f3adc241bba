"""Cost of a supernet weight step against training the same paths as stand-alone networks.

Prints three ratios:

* time of one supernet weight step with bi-sampling (two single paths through every layer, each
  stage's layers all run for the sink; ``Searcher.weight_step`` itself, with clipping and checks)
  divided by the time of one training step of each of the same two paths built as stand-alone
  networks (same ops, widths and depths) -- target <= 1.3;
* peak memory of that search step divided by the peak memory of one training step of the
  widest stand-alone network of the space (every layer at its widest op and width, full depth);
* time of one architecture step (``Searcher.arch_step``: the Gumbel-softmax mixture of every op,
  sink-connected depths, gradients for alpha and beta only) divided by the time of the weight step
  -- target <= 2.0 at ``--resolution 224 --batch 16`` on the CPU.

Both steps run as the search runs them: channels-last unless ``--no-channels-last``, and the process
keeping the memory it frees (``nas.allocator.keep_freed_memory``, as every ``kedro run``) unless
``--no-keep-freed-memory``.

On CUDA the memory is the allocator's peak; on the CPU it is the peak resident set of a fresh
process doing the step, minus that of the same process before it.

    .venv/bin/python benchmarks/search_step.py [--resolution 64] [--batch 16] [--device cpu] [--no-channels-last]
        [--no-keep-freed-memory]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from tfnas_kedro.nas import build_network, load_search_spaces
from tfnas_kedro.nas.allocator import keep_freed_memory
from tfnas_kedro.nas.latency import KEY_COLUMNS, LatencyMeta, LatencyTable
from tfnas_kedro.nas.penalty import LatencyPenalty
from tfnas_kedro.nas.sampling import bi_sample
from tfnas_kedro.nas.search import SearchConfig, Searcher, backward_paths
from tfnas_kedro.nas.supernet import Supernet, derive_architecture
from tfnas_kedro.nas.table_build import table_keys

ROOT = Path(__file__).resolve().parents[1]


def _space(resolution: int):
    return load_search_spaces(ROOT / "conf/base/parameters_search_spaces.yml")["tfnas"].model_copy(
        update={"resolution": resolution}
    )


def _one_hot(index: int, size: int) -> torch.Tensor:
    return F.one_hot(torch.tensor(index), size).float()


def _setup(resolution: int, classes: int, device: torch.device, memory_format=torch.contiguous_format):
    torch.manual_seed(0)
    space = _space(resolution)
    supernet = Supernet(space, classes).to(device, memory_format=memory_format)
    alpha = [torch.zeros(len(p.ops)) for p in supernet.positions]
    beta = [torch.zeros(s.max_depth) for s in space.stages]
    paths = bi_sample(alpha, torch.Generator().manual_seed(0))
    full_depth = [_one_hot(s.max_depth - 1, s.max_depth) for s in space.stages]
    archs = [
        derive_architecture(
            space, [_one_hot(i, len(a)) for i, a in zip(p, alpha, strict=True)], full_depth, supernet.widths(), classes
        )
        for p in paths
    ]
    nets = [build_network(a).to(device, memory_format=memory_format) for a in archs]
    return space, supernet, alpha, beta, paths, nets


def _search_step(supernet, alpha, beta, paths, optimizer, x, y):
    """The weight step of the search (without gradient clipping and NaN checks)."""
    optimizer.zero_grad(set_to_none=True)
    backward_paths(supernet, x, y, paths, alpha, beta)
    optimizer.step()


def _standalone_step(nets, optimizers, x, y):
    for net, optimizer in zip(nets, optimizers, strict=True):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        optimizer.step()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(steps: int, device, functions: dict) -> dict[str, float]:
    """Median seconds of each function, called in interleaved rounds (the first two are warm-up)."""
    times = {name: [] for name in functions}
    for step in range(steps + 2):
        for name, fn in functions.items():
            _sync(device)
            begin = time.perf_counter()
            fn()
            _sync(device)
            if step >= 2:
                times[name].append(time.perf_counter() - begin)
    return {name: statistics.median(t) for name, t in times.items()}


def width_table(space, resolution: int, classes: int) -> LatencyTable:
    """A table whose block latency is proportional to the expanded width: the steps' cost does not
    depend on the numbers, only the Searcher needs a table to exist."""
    rows = [(*key, m, 0.01 * m, 0.01 * m, 0.0) for key, mids in table_keys([space], 64).items() for m in mids]
    entries = pd.DataFrame(rows, columns=[*KEY_COLUMNS, "mid", "ms", "median_ms", "spread"])
    meta = LatencyMeta(
        device="cpu", device_name="benchmark", batch_size=1, threads=1, resolution=resolution, num_classes=classes,
        spaces=[space.name], stem=space.stem.model_dump(), head=space.head.model_dump(), width_step=64, profiler={},
        base_ms=1.0,
    )  # fmt: skip
    return LatencyTable(meta, entries)


def step_times(resolution: int, batch: int, device: torch.device, steps: int, channels_last: bool) -> dict[str, float]:
    """Seconds per weight step and per architecture step of the search (``Searcher``'s own, with
    clipping and checks), and per training step of the same two paths stand-alone."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    space, supernet, alpha, beta, paths, nets = _setup(resolution, 10, device, memory_format)
    table = width_table(space, resolution, 10)
    low, high = table.reachable_range(space)
    penalty = LatencyPenalty((low + high) / 2)
    searcher = Searcher(space, table, 10, SearchConfig(), device, penalty, channels_last=channels_last)
    searcher.supernet.load_state_dict(supernet.state_dict())
    x = torch.randn(batch, 3, resolution, resolution, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (batch,), device=device)
    generator = torch.Generator().manual_seed(0)
    standalone_opts = [torch.optim.SGD(n.parameters(), lr=0.01, momentum=0.9) for n in nets]
    return _timed(
        steps,
        device,
        {
            "weight": lambda: searcher.weight_step(x, y, paths, lr=0.01),
            "arch": lambda: searcher.arch_step(x, y, tau=5.0, generator=generator),
            "standalone": lambda: _standalone_step(nets, standalone_opts, x, y),
        },
    )


def _widest_arch(space, positions):
    """Every layer at full depth with its widest op (largest expansion, then SE, then kernel) and width."""

    def size(name):
        op = space.ops[name]
        return op.width.max, op.se, op.kernel

    best = [max(range(len(p.ops)), key=lambda i, p=p: size(p.ops[i])) for p in positions]
    widths = [{n: space.ops[n].mid_range(p.cin)[1] for n in p.ops} for p in positions]
    alpha = [_one_hot(i, len(p.ops)) for i, p in zip(best, positions, strict=True)]
    full = [_one_hot(s.max_depth - 1, s.max_depth) for s in space.stages]
    return derive_architecture(space, alpha, full, widths, 10)


def _rss_kb(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, from /proc (Linux)."""
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _memory_child(kind: str, resolution: int, batch: int, device_name: str, channels_last: bool, keep, queue) -> None:
    if keep:
        keep_freed_memory()
    device = torch.device(device_name)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    space, supernet, alpha, beta, paths, _ = _setup(resolution, 10, device, memory_format)
    x = torch.randn(batch, 3, resolution, resolution, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (batch,), device=device)
    if kind == "search":
        model = supernet
        step = lambda opt: _search_step(supernet, alpha, beta, paths, opt, x, y)  # noqa: E731
    else:
        model = build_network(_widest_arch(space, supernet.positions)).to(device, memory_format=memory_format)
        del supernet
        step = lambda opt: _standalone_step([model], [opt], x, y)  # noqa: E731
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step(optimizer)
        torch.cuda.synchronize()
        queue.put((torch.cuda.max_memory_allocated() - before) / 2**20)
    else:
        before = _rss_kb("VmRSS")
        step(optimizer)
        queue.put((_rss_kb("VmHWM") - before) / 1024)


def memory_mb(kind: str, resolution: int, batch: int, device: torch.device, channels_last: bool, keep: bool) -> float:
    context = mp.get_context("spawn")
    queue = context.Queue()
    args = (kind, resolution, batch, str(device), channels_last, keep, queue)
    process = context.Process(target=_memory_child, args=args)
    process.start()
    value = queue.get()
    process.join()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--no-keep-freed-memory", dest="keep_freed_memory", action="store_false")
    args = parser.parse_args()
    device = torch.device(args.device)
    kept = args.keep_freed_memory and keep_freed_memory()
    t = step_times(args.resolution, args.batch, device, args.steps, args.channels_last)
    print(
        f"device {device}, input {args.resolution}, batch {args.batch}, {torch.get_num_threads()} threads, "
        f"channels-last {args.channels_last}, freed memory kept {kept}"
    )
    print(
        f"supernet weight step (2 paths): {1000 * t['weight']:.1f} ms; "
        f"the 2 paths stand-alone: {1000 * t['standalone']:.1f} ms"
    )
    print(f"time ratio: {t['weight'] / t['standalone']:.2f} (target <= 1.3)")
    print(f"architecture step (mixture of every op): {1000 * t['arch']:.1f} ms")
    print(f"arch step / weight step: {t['arch'] / t['weight']:.2f} (target <= 2.0 at input 224, batch 16, CPU)")
    search_mb = memory_mb("search", args.resolution, args.batch, device, args.channels_last, kept)
    widest_mb = memory_mb("widest", args.resolution, args.batch, device, args.channels_last, kept)
    print(f"peak memory of a search step: {search_mb:.0f} MB; of the widest stand-alone network: {widest_mb:.0f} MB")
    print(f"memory ratio: {search_mb / widest_mb:.2f}")


if __name__ == "__main__":
    main()
