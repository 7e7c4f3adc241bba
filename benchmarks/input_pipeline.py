"""Does decoding or compute bound the search? Images/s of the loaders against images/s of the steps.

Writes ``--images`` synthetic JPEG files (ImageNet-sized: 500 x 375) to a temporary folder, then:

* images/s of the search's weight loader (decode, random-resized crop to 224, flip; the train
  pipeline's loader does the same) and of its architecture/validation loader (decode, resize,
  centre crop), each with every worker count of ``--workers``;
* images/s of the supernet's weight step and architecture step (``Searcher.weight_step`` and
  ``arch_step``, bi-sampling, batch ``--batch``) on ``--device``, with the autocast and memory
  format the search uses there.

It prints the loader's images/s per worker and the workers one process needs to keep the weight
steps fed (one weight batch and half an architecture batch per weight step, as ``arch_every: 2``).

    .venv/bin/python benchmarks/input_pipeline.py [--device auto] [--workers 0,1,2] [--images 256] [--batch 32]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from search_step import width_table  # benchmarks/search_step.py, beside this script

from tfnas_kedro.data.loaders import make_loader
from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.penalty import LatencyPenalty
from tfnas_kedro.nas.sampling import bi_sample
from tfnas_kedro.nas.search import SearchConfig, Searcher
from tfnas_kedro.runtime import autocast_dtype, resolve_device

ROOT = Path(__file__).resolve().parents[1]
SIZE = 224


def write_jpegs(folder: Path, count: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(count):
        path = folder / f"{i}.jpg"
        # smooth noise compresses like a photograph (pure noise decodes far slower than real images)
        small = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(small).resize((500, 375), Image.Resampling.BICUBIC).save(path, quality=90)
        rows.append({"path": str(path), "class_index": i % 10, "split": "weights"})
    return pd.DataFrame(rows)


def loader_rate(split: pd.DataFrame, augment: bool, workers: int, batch: int) -> float:
    loader = make_loader(split, "weights", input_size=SIZE, batch_size=batch, workers=workers, shuffle=True,
                         augment=augment, drop_last=True)  # fmt: skip
    batches = iter(loader)
    next(batches)  # workers started, first batch decoded
    started, seen = time.perf_counter(), 0
    for x, _ in batches:
        seen += len(x)
    return seen / (time.perf_counter() - started)


def step_rates(device: torch.device, batch: int, steps: int) -> tuple[float, float]:
    space = load_search_spaces(ROOT / "conf/base/parameters_search_spaces.yml")["tfnas"].at_resolution(SIZE)
    table = width_table(space, SIZE, 100)  # made up: the steps' cost does not depend on the numbers
    low, high = table.reachable_range(space)
    config, penalty = SearchConfig(epochs=2, warmup_epochs=0), LatencyPenalty((low + high) / 2)
    amp = autocast_dtype("auto", device)
    searcher = Searcher(space, table, 100, config, device, penalty, channels_last=True, amp=amp)
    x = torch.randn(batch, 3, SIZE, SIZE, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 100, (batch,), device=device)
    generator = torch.Generator().manual_seed(0)

    def timed(step) -> float:
        step()  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return batch * steps / (time.perf_counter() - started)

    weight = timed(lambda: searcher.weight_step(x, y, list(bi_sample(searcher.host_alpha, generator)), 0.01))
    arch = timed(lambda: searcher.arch_step(x, y, 1.0, generator))
    return weight, arch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps of each kind")
    args = parser.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        split = write_jpegs(Path(folder), args.images)
        rates = {}
        for workers in (int(w) for w in args.workers.split(",")):
            crop, centre = loader_rate(split, True, workers, args.batch), loader_rate(split, False, workers, args.batch)
            rates[workers] = crop
            print(f"loader, {workers} workers: {crop:.0f} images/s random-resized crop (weights, train), "
                  f"{centre:.0f} images/s resize + centre crop (architecture, validation)")  # fmt: skip
    weight, arch = step_rates(device, args.batch, args.steps)
    print(f"supernet on {device}, batch {args.batch}, {SIZE} px: weight step {weight:.0f} images/s, "
          f"architecture step {arch:.0f} images/s")  # fmt: skip
    # per weight step: one weight batch and (arch_every 2) half an architecture batch must be decoded
    step_seconds = 1 / weight + 0.5 / arch
    needed = 1.5 / step_seconds  # images/s the loaders must deliver
    # a worker's rate from the runs with workers (0 workers decode in the training process itself)
    per_worker = max(rates[w] / w for w in rates if w > 0) if any(rates) else rates[0]
    print(f"the search consumes {needed:.0f} images/s; one worker decodes about {per_worker:.0f}: "
          f"{max(1, math.ceil(needed / per_worker))} worker(s) per process keep it fed")  # fmt: skip


if __name__ == "__main__":
    main()
