"""``params:data``, ``demo_data``, ``ranking`` and ``selection``: the ``data_selection`` pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Params


class DataParams(Params):
    source: Literal["demo", "imagefolder", "list"] = "demo"
    empty_classes: Literal["skip", "error"] = "skip"
    verify: Literal["full", "header"] = "full"
    workers: int = Field(2, ge=1)


class DemoDataParams(Params):
    num_classes: int = Field(30, ge=2)
    train_per_class: int = Field(40, ge=2)
    val_per_class: int = Field(10, ge=1)
    test_per_class: int = Field(100, ge=0)
    image_size: int = Field(64, ge=16)
    seed: int = 0


class RankingParams(Params):
    model: Literal["efficientnet_lite0", "efficientnet_b0"] = "efficientnet_lite0"
    checkpoint: str | None = None
    labels: Literal["auto", "imagenet", "probe"] = "auto"
    resolution: int = Field(224, ge=32)
    batch_size: int = Field(64, ge=1)
    workers: int = Field(0, ge=0)
    device: str = "auto"
    probe_folds: int = Field(5, ge=2)
    seed: int = 0


class SelectionParams(Params):
    num_groups: int = Field(100, ge=1)
    arch_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    # where the held-out test split comes from: the data set's test folder, or carved from val;
    # auto: the folder when the data set has one
    test_source: Literal["auto", "folder", "val"] = "auto"
    test_fraction: float | None = Field(None, gt=0.0, lt=1.0)  # share of val carved into test (None: 0.5)
    seed: int = 0
