"""The top level of the parameters: every group, each against the model its nodes use."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Params
from .data import DataParams, DemoDataParams, RankingParams, SelectionParams
from .latency import LatencyParams
from .report import ReportParams
from .search import SearchParams, TargetParams
from .studies import StudiesParams
from .train import TrainParams, ZooTrainParams
from .transfer import DemoCifarParams, TransferParams, ZooTransferParams
from .zoo import ZooParams


class ProjectParams(Params):
    """The top level of the parameters: one key per group; a group left out keeps its nodes' defaults."""

    seed: int = 0
    data: DataParams | None = None
    demo_data: DemoDataParams | None = None
    ranking: RankingParams | None = None
    selection: SelectionParams | None = None
    latency: LatencyParams | None = None
    search: SearchParams | None = None
    target: TargetParams | None = None
    latency_targets: dict[str, TargetParams] = Field(default_factory=dict)
    search_spaces: dict[str, dict[str, Any]] = Field(default_factory=dict)
    studies: StudiesParams | None = None
    train: TrainParams | None = None
    train_zoo: ZooTrainParams | None = None
    transfer: TransferParams | None = None
    transfer_sets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    demo_cifar: DemoCifarParams | None = None
    transfer_zoo: ZooTransferParams | None = None
    zoo: ZooParams | None = None
    report: ReportParams | None = None
    # runtime parameters the catalog reads (``${runtime_params:...}`` in catalog.yml)
    data_root: str | None = None
    cifar_root: str | None = None
    cifar_download: bool | None = None
    zoo_weights: str | None = None
