"""Training throughput of the largest published TF-NAS model against torchvision's EfficientNet-B0.

Both train in the project's trainer (same SGD step, label smoothing, gradient clipping, AMP and
channels-last policy) on random 224x224 images with 1000 classes, batch 32, on the chosen device.
The first epoch warms up (allocator, kernels); the second epoch's images per second are compared.
Prints images/s of each and the ratio (TF-NAS model / EfficientNet-B0).

    .venv/bin/python benchmarks/train_throughput.py [--device cpu] [--steps 4] [--batch 32]
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import TensorDataset
from torchvision.models import efficientnet_b0

from tfnas_kedro.nas import build_network, count_macs, zoo_arch, zoo_names
from tfnas_kedro.runtime import resolve_device
from tfnas_kedro.training import TrainConfig, Trainer


def throughput(model: torch.nn.Module, data: TensorDataset, config: TrainConfig, device: torch.device) -> float:
    trainer = Trainer(model, config, device)
    history = trainer.fit(data, TensorDataset(data.tensors[0][:2], data.tensors[1][:2]), progress=False)
    return history[-1]["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=4, help="training steps per epoch (two epochs)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=224)
    args = parser.parse_args()
    device = resolve_device(args.device)
    largest = max(zoo_names(), key=lambda name: count_macs(zoo_arch(name)))
    config = TrainConfig(epochs=2, batch_size=args.batch, lr=0.1, warmup_epochs=0, drop_connect=0.2, workers=0)
    n = args.batch * args.steps
    data = TensorDataset(torch.randn(n, 3, args.resolution, args.resolution), torch.randint(0, 1000, (n,)))
    torch.manual_seed(0)
    ours = throughput(build_network(zoo_arch(largest), drop_connect_rate=0.2), data, config, device)
    theirs = throughput(efficientnet_b0(num_classes=1000), data, config, device)
    macs = count_macs(zoo_arch(largest)) / 1e6
    print(f"device {device}, {torch.get_num_threads()} threads, batch {args.batch}, input {args.resolution}")
    print(f"{largest} ({macs:.0f}M MACs): {ours:.1f} images/s")
    print(f"torchvision efficientnet_b0 (390M MACs): {theirs:.1f} images/s")
    print(f"ratio {largest} / efficientnet_b0: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
