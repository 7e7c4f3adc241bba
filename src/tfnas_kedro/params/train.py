"""``params:train`` and ``params:train_zoo``: the ``train`` and ``train_zoo`` pipelines."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tfnas_kedro.training import DistributedConfig, TrainConfig

from .base import Params


class TrainParams(TrainConfig):
    """``params:train``: the recipe (:class:`TrainConfig`) and how to run it."""

    data: Literal["selected", "all"] = "selected"  # the selected classes (search_split) or every class
    # scratch: the paper's retraining | inherit: fine-tune from the supernet's weights of the
    # searched path (as once-for-all deploys a subnet), the BatchNorm's scales and shifts included
    init: Literal["scratch", "inherit"] = "scratch"
    input_size: int = Field(224, ge=16)
    color_jitter: float = Field(0.0, ge=0)
    device: str = "auto"
    checkpoint_dir: str = "data/06_models/train_checkpoints"
    resume: bool = True
    distributed: DistributedConfig = DistributedConfig()
    use_ema: bool = False  # report and export the EMA weights (needs ema_decay)
    measure_latency: bool = True


class ZooTrainParams(Params):
    model: str = "TF-NAS-D"
