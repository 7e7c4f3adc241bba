"""Typed parameters: node functions validate their ``params:`` dicts here, at the boundary.

One module per group of ``conf/base/parameters_*.yml``; :class:`ProjectParams` is all of them,
which ``parameter_check`` validates a run's parameters against before any node runs. No module here
imports a pipeline: the pipelines import their models from here.
"""

from .base import P, Params, parse_params
from .data import DataParams, DemoDataParams, RankingParams, SelectionParams
from .latency import LatencyParams, RemoteParams
from .project import ProjectParams
from .report import REFERENCE_MODELS, ReportParams
from .search import SearchParams, TargetParams
from .studies import (
    SearchQualityParams,
    StudiesParams,
    StudyParams,
    merge_settings,
    search_quality_params,
    study_search_settings,
    study_train_settings,
)
from .train import TrainParams, ZooTrainParams
from .transfer import DemoCifarParams, TransferParams, ZooTransferParams, transfer_params
from .zoo import ZooParams

__all__ = [
    "P",
    "REFERENCE_MODELS",
    "DataParams",
    "DemoCifarParams",
    "DemoDataParams",
    "LatencyParams",
    "Params",
    "ProjectParams",
    "RankingParams",
    "RemoteParams",
    "ReportParams",
    "SearchParams",
    "SearchQualityParams",
    "SelectionParams",
    "StudiesParams",
    "StudyParams",
    "TargetParams",
    "TrainParams",
    "TransferParams",
    "ZooParams",
    "ZooTrainParams",
    "ZooTransferParams",
    "merge_settings",
    "parse_params",
    "search_quality_params",
    "study_search_settings",
    "study_train_settings",
    "transfer_params",
]
