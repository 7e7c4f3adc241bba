"""``params:transfer``, ``transfer_sets.<name>``, ``demo_cifar`` and ``transfer_zoo``: the
``transfer`` and ``transfer_zoo`` pipelines."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tfnas_kedro.training import DistributedConfig, TrainConfig

from .base import Params, parse_params


class TransferParams(TrainConfig):
    """``params:transfer`` (shared by every data set; ``params:transfer_sets.<name>`` overrides keys)."""

    dataset: Literal["cifar10", "cifar100"] = "cifar10"
    data: Literal["demo", "real"] = "demo"  # demo: small generated CIFAR-format sets, no download
    input_size: int = Field(224, ge=16)  # CIFAR's 32x32 images are resized to this
    trainable: Literal["all", "head", "classifier"] = "all"
    use_ema: bool = False  # start from the source's EMA weights when it has them
    train_limit: int | None = Field(None, ge=1)  # only the first N training images (quick runs)
    device: str = "auto"
    checkpoint_dir: str = "data/06_models/transfer_checkpoints"
    resume: bool = True
    distributed: DistributedConfig = DistributedConfig()


class DemoCifarParams(Params):
    train_per_class: dict[str, int] = {"cifar10": 30, "cifar100": 6}
    test_per_class: dict[str, int] = {"cifar10": 10, "cifar100": 2}
    seed: int = 0


def transfer_params(transfer: dict, transfer_set: dict) -> TransferParams:
    return parse_params(TransferParams, {**transfer, **transfer_set}, "transfer")


class ZooTransferParams(Params):
    model: str = "TF-NAS-A"
