"""The CUDA path in one prepared run (at most about 8 minutes on one GPU).

1. a small latency table on the device (batch 32, CUDA events; 224 px, a coarse width grid),
   calibrated on sampled networks and checked against the published models (fidelity);
2. two search epochs (one warm-up, one with architecture steps, elasticity-scaling and the latency
   term) on synthetic 224 px images, bf16 autocast and channels-last as the search runs on CUDA:
   images/s of the weight and of the architecture steps, peak memory;
3. one training epoch of the largest published model with autocast and channels-last: images/s,
   peak memory;
4. ONNX export of that network, checked against PyTorch by onnxruntime.

Every figure is printed; any error (a CUDA-only one included) stops it with a traceback and a
non-zero exit. ``--device cpu --quick`` runs the same code on the CPU at 64 px (a dry run).

    .venv/bin/python benchmarks/gpu_check.py [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from tfnas_kedro.data.in_memory import InMemoryBatches
from tfnas_kedro.nas import build_network, count_macs, load_search_spaces, zoo_arch, zoo_names
from tfnas_kedro.nas.calibration import calibrate_and_check
from tfnas_kedro.nas.penalty import LatencyPenalty
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.search import SearchConfig, Searcher
from tfnas_kedro.nas.table_build import build_latency_table
from tfnas_kedro.runtime import autocast_dtype, resolve_device
from tfnas_kedro.training import TrainConfig, Trainer, export_onnx

ROOT = Path(__file__).resolve().parents[1]


def _peak_gib(device: torch.device) -> str:
    if device.type != "cuda":
        return "n/a (CPU)"
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return f"{peak:.2f} GiB"


def latency_table(space, device, resolution, classes, quick):
    settings = ProfilerSettings(device=str(device), batch_size=32 if device.type == "cuda" else 1,
                                warmup=2, repeats=3 if quick else 5, rounds=2 if quick else 3)  # fmt: skip
    started = time.perf_counter()
    # one grid: a quick check of the CUDA path, not of the grid a runtime's kernels want
    table = build_latency_table([space], resolution=resolution, num_classes=classes,
                                width_step=128 if quick else 64, settings=settings, channel_block=0)  # fmt: skip
    built = time.perf_counter() - started
    zoo = [zoo_arch(n, num_classes=classes, resolution=resolution) for n in zoo_names()]
    zoo = [a for a in zoo if a.space == space.name][: 2 if quick else 4]
    network_settings = ProfilerSettings(**{**settings.describe(), "rounds": 5 if quick else 15, "repeats": 1})
    table, _, fidelity, summary = calibrate_and_check(table, space, zoo, network_settings,
                                                      samples=4 if quick else 8, noise_repeats=2)  # fmt: skip
    m = table.meta
    print(f"[table] {len(table.entries)} entries in {built:.0f} s on {m.device_name}, batch {settings.batch_size}")
    for row in fidelity.itertuples():
        print(f"[table] {row.name}: predicted {row.predicted_ms:.3f} ms, measured {row.measured_ms:.3f} ms, "
              f"error {100 * row.relative_error:+.1f}%")  # fmt: skip
    print(f"[table] fidelity: median |error| {100 * summary.median_abs_error:.1f}%, "
          f"max {100 * summary.max_abs_error:.1f}%, noise floor {100 * summary.noise_floor.spread:.1f}%")  # fmt: skip
    return table


def search(space, table, device, resolution, classes, quick):
    batch = 16 if quick else 64
    steps = 2 if quick else 10
    g = torch.Generator().manual_seed(0)
    n = batch * steps
    images = torch.randint(0, 256, (n, 3, round(resolution / 0.875), round(resolution / 0.875)), dtype=torch.uint8,
                           generator=g)  # fmt: skip
    labels = torch.randint(0, classes, (n,), generator=g)
    common = {"input_size": resolution, "batch_size": batch, "device": device, "memory_format": torch.channels_last}
    weights = InMemoryBatches(images, labels, augment=True, shuffle=True, **common)
    arch = InMemoryBatches(images[: n // 2], labels[: n // 2], augment=False, shuffle=True, **common)
    val = InMemoryBatches(images[:batch], labels[:batch], augment=False, shuffle=False, **common)
    low, high = table.reachable_range(space)
    config = SearchConfig(epochs=2, warmup_epochs=1, arch_lr=0.2, tau=1.0, latency_feedback=True)
    penalty = LatencyPenalty(low + 0.5 * (high - low), weight=2.0)
    amp = autocast_dtype("auto", device)
    searcher = Searcher(space, table, classes, config, device, penalty, channels_last=True, amp=amp)
    timings = {"weight": [], "arch": []}
    steps = searcher.steps  # the loop calls its steps through this object: timed there
    original_weight, original_arch = steps.weight_step, steps.arch_step

    def timed(kind, step):
        def run(*args, **kwargs):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            out = step(*args, **kwargs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            timings[kind].append(time.perf_counter() - started)
            return out

        return run

    steps.weight_step, steps.arch_step = timed("weight", original_weight), timed("arch", original_arch)
    history = searcher.run(weights, arch, val)
    peak = _peak_gib(device)
    for kind, seconds in timings.items():
        per_step = float(np.median(seconds[1:] or seconds))
        print(f"[search] {kind} step: {per_step * 1000:.1f} ms, {batch / per_step:.0f} images/s "
              f"(batch {batch}, {resolution} px, autocast {amp}, channels-last)")  # fmt: skip
    last = history[-1]
    print(f"[search] epoch 2: derived {last['derived_ms']:.3f} ms for a {penalty.target_ms:.3f} ms target, "
          f"scaling feasible {last['scaling_feasible']}; peak memory {peak}")  # fmt: skip


def train(device, resolution, classes, quick):
    largest = max(zoo_names(), key=lambda name: count_macs(zoo_arch(name)))
    arch = zoo_arch(largest, num_classes=classes, resolution=resolution)
    batch, steps = (8, 2) if quick else (128, 12)
    n = batch * steps
    data = TensorDataset(torch.randn(n, 3, resolution, resolution), torch.randint(0, classes, (n,)))
    config = TrainConfig(epochs=1, batch_size=batch, lr=0.1, warmup_epochs=0, workers=0, amp="auto",
                         channels_last="auto")  # fmt: skip
    network = build_network(arch)
    val = TensorDataset(data.tensors[0][:batch], data.tensors[1][:batch])
    history = Trainer(network, config, device).fit(data, val, progress=False)
    print(f"[train] {largest}: {history[-1]['images_per_s']:.0f} images/s (batch {batch}, {resolution} px, "
          f"autocast {autocast_dtype('auto', device)}, channels-last {device.type == 'cuda'}); "
          f"peak memory {_peak_gib(device)}")  # fmt: skip
    return network, resolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="64 px, fewer steps (a dry run on the CPU)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    resolution, classes = (64, 10) if args.quick else (224, 100)
    started = time.perf_counter()
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}")  # fmt: skip
    space = load_search_spaces(ROOT / "conf/base/parameters_search_spaces.yml")["tfnas"].at_resolution(resolution)
    table = latency_table(space, device, resolution, classes, args.quick)
    search(space, table, device, resolution, classes, args.quick)
    network, resolution = train(device, resolution, classes, args.quick)
    _, report = export_onnx(network, resolution)
    print(f"[onnx] {report}")
    print(f"all checks passed in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
