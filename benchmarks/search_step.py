"""Cost of a supernet weight step against training the same paths as stand-alone networks.

Prints two ratios:

* time of one supernet weight step with bi-sampling (two single paths through every layer, each
  stage's layers all run for the sink) divided by the time of one training step of each of the
  same two paths built as stand-alone networks (same ops, widths and depths) -- target <= 1.3;
* peak memory of that search step divided by the peak memory of one training step of the
  widest stand-alone network of the space (every layer at its widest op and width, full depth).

On CUDA the memory is the allocator's peak; on the CPU it is the peak resident set of a fresh
process doing the step, minus that of the same process before it.

    .venv/bin/python benchmarks/search_step.py [--resolution 64] [--batch 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from tfnas_kedro.nas import build_network, load_search_spaces
from tfnas_kedro.nas.sampling import bi_sample
from tfnas_kedro.nas.search import backward_paths
from tfnas_kedro.nas.supernet import Supernet, derive_architecture

ROOT = Path(__file__).resolve().parents[1]


def _space(resolution: int):
    return load_search_spaces(ROOT / "conf/base/parameters_search_spaces.yml")["tfnas"].model_copy(
        update={"resolution": resolution}
    )


def _one_hot(index: int, size: int) -> torch.Tensor:
    return F.one_hot(torch.tensor(index), size).float()


def _setup(resolution: int, classes: int, device: torch.device):
    torch.manual_seed(0)
    space = _space(resolution)
    supernet = Supernet(space, classes).to(device)
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
    nets = [build_network(a).to(device) for a in archs]
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


def time_ratio(resolution: int, batch: int, device: torch.device, steps: int) -> tuple[float, float, float]:
    space, supernet, alpha, beta, paths, nets = _setup(resolution, 10, device)
    x = torch.randn(batch, 3, resolution, resolution, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    search_opt = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9)
    standalone_opts = [torch.optim.SGD(n.parameters(), lr=0.01, momentum=0.9) for n in nets]
    search_times, standalone_times = [], []
    for step in range(steps + 2):  # interleaved, the first two rounds are warm-up
        for fn, times in (
            (lambda: _search_step(supernet, alpha, beta, paths, search_opt, x, y), search_times),
            (lambda: _standalone_step(nets, standalone_opts, x, y), standalone_times),
        ):
            _sync(device)
            begin = time.perf_counter()
            fn()
            _sync(device)
            if step >= 2:
                times.append(time.perf_counter() - begin)
    search, standalone = statistics.median(search_times), statistics.median(standalone_times)
    return search / standalone, search, standalone


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


def _memory_child(kind: str, resolution: int, batch: int, device_name: str, queue) -> None:
    device = torch.device(device_name)
    space, supernet, alpha, beta, paths, _ = _setup(resolution, 10, device)
    x = torch.randn(batch, 3, resolution, resolution, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if kind == "search":
        model = supernet
        step = lambda opt: _search_step(supernet, alpha, beta, paths, opt, x, y)  # noqa: E731
    else:
        model = build_network(_widest_arch(space, supernet.positions)).to(device)
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


def memory_mb(kind: str, resolution: int, batch: int, device: torch.device) -> float:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_memory_child, args=(kind, resolution, batch, str(device), queue))
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
    args = parser.parse_args()
    device = torch.device(args.device)
    ratio, search, standalone = time_ratio(args.resolution, args.batch, device, args.steps)
    print(f"device {device}, input {args.resolution}, batch {args.batch}, {torch.get_num_threads()} threads")
    print(
        f"supernet weight step (2 paths): {1000 * search:.1f} ms; the 2 paths stand-alone: {1000 * standalone:.1f} ms"
    )
    print(f"time ratio: {ratio:.2f} (target <= 1.3)")
    search_mb = memory_mb("search", args.resolution, args.batch, device)
    widest_mb = memory_mb("widest", args.resolution, args.batch, device)
    print(f"peak memory of a search step: {search_mb:.0f} MB; of the widest stand-alone network: {widest_mb:.0f} MB")
    print(f"memory ratio: {search_mb / widest_mb:.2f}")


if __name__ == "__main__":
    main()
