"""Does a warm start give a supernet whose random paths carry the data set's classes, and in which
space's activations? The demo's search split, weights only (the warm-up: uniformly drawn paths).

For each space (``tfnas``: ReLU and Swish, SE ops; ``tfnas_lite``: Lite0's ReLU6, no SE) and each
init (``scratch``, ``efficientnet_lite0``), prints the validation top-1 of the derived path (alpha
uniform: op 0 everywhere) and the mean of three uniformly drawn paths, batch statistics, before
the first step (warm starts only: the classifier is a linear probe) and after each epoch, with
the weight loss against ln(classes). Seeds: ``--seeds`` searches per cell.

Needs the demo's split: ``kedro run --pipelines data_selection`` first.

    .venv/bin/python benchmarks/warm_start.py [--epochs 4] [--seeds 1]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from tfnas_kedro.data.in_memory import in_memory_loader
from tfnas_kedro.data.pretrained import warm_start_source
from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.search import SearchConfig, Searcher

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from search_step import width_table  # noqa: E402  (a benchmark beside this one)


def loaders(split: pd.DataFrame, seed: int) -> list:
    """Weights, architecture and validation batches as the search's, and the weight split in the
    evaluation transform for the classifier's probe."""
    common = {"input_size": 64, "batch_size": 32, "min_scale": 0.08, "seed": seed,
              "memory_format": torch.channels_last}  # fmt: skip
    kinds = (("weights", True, True), ("arch", True, False), ("val", False, False), ("weights", False, False))
    return [in_memory_loader(split, name, shuffle=shuffle, augment=augment, **common) for name, shuffle, augment in
            kinds]  # fmt: skip


def one_search(space, init: str, split: pd.DataFrame, epochs: int, seed: int, source, lr: float) -> list[dict]:
    classes = int(split["label"].nunique())
    config = SearchConfig(epochs=epochs, warmup_epochs=epochs, lr=lr, init=init, seed=seed)
    searcher = Searcher(space, width_table(space.at_resolution(64), 64, classes), classes, config,
                        torch.device("cpu"), channels_last=True)  # fmt: skip
    weights, arch, val, probe = loaders(split, seed)
    rows = []
    if source is not None:
        started = time.perf_counter()
        start = searcher.start_from(source, probe, val)
        rows.append({"epoch": "start", "weight_loss": float("nan"), **start["start"],
                     "seconds": time.perf_counter() - started})  # fmt: skip
    history = searcher.run(weights, arch, val, progress=False)
    rows += [{k: row[k] for k in ("epoch", "weight_loss", "val_top1", "val_top1_random_paths", "seconds")}
             for row in history]  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--lr", type=float, nargs="+", default=[0.025])
    parser.add_argument("--spaces", nargs="+", default=["tfnas", "tfnas_lite"])
    parser.add_argument("--inits", nargs="+", default=["scratch", "efficientnet_lite0"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    split = pd.read_parquet(ROOT / "data/03_primary/search_split.parquet")
    spaces = load_search_spaces(ROOT / "conf/base/parameters_search_spaces.yml")
    source = warm_start_source("efficientnet_lite0")
    classes = int(split["label"].nunique())
    print(f"{classes} classes: chance top-1 {1 / classes:.3f}, chance loss ln {classes} = {math.log(classes):.2f}")
    cells = [(space, init, lr) for space in args.spaces for init in args.inits for lr in args.lr]
    for space_name, init, lr in cells:
        for seed in range(args.seeds):
            warm = None if init == "scratch" else source
            for row in one_search(spaces[space_name], init, split, args.epochs, seed, warm, lr):
                print(f"{space_name:10s} {init:18s} lr {lr} seed {seed} epoch {row['epoch']!s:5s} "
                      f"loss {row['weight_loss']:.3f} derived {row['val_top1']:.3f} "
                      f"random paths {row['val_top1_random_paths']:.3f} ({row['seconds']:.0f} s)",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
