"""Every parameter of the project, checked before any node runs (``hooks.ParameterHooks``).

The nodes validate their own ``params:`` groups too, but only when they run: a misspelt key of the
report would surface after the whole search. Here the merged parameters of the run (base, env and
``--params``) are checked as a whole, each group against the model its nodes use, and every
combination a node builds (a study's run settings, a transfer set over ``transfer``) as that node
will build it. Unknown keys, at any level, stop the run with the key named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.errors import ConfigError, validate_model
from tfnas_kedro.params import LatencyParams, Params, parse_params
from tfnas_kedro.pipelines._study import merge_settings
from tfnas_kedro.pipelines.data_selection.nodes import DataParams, DemoDataParams, RankingParams, SelectionParams
from tfnas_kedro.pipelines.report.nodes import ReportParams
from tfnas_kedro.pipelines.search.nodes import SearchParams, TargetParams
from tfnas_kedro.pipelines.study_search_quality.nodes import (
    SearchQualityParams,
    study_search_settings,
    study_train_settings,
)
from tfnas_kedro.pipelines.train.nodes import TrainParams, ZooTrainParams
from tfnas_kedro.pipelines.transfer.nodes import DemoCifarParams, TransferParams, ZooTransferParams, transfer_params
from tfnas_kedro.pipelines.zoo.nodes import ZooParams


class StudyParams(Params):
    """``params:studies.lambda`` / ``studies.sampling``: each run is ``search`` + ``base`` + the run."""

    title: str = "study"
    base: dict[str, Any] = Field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = Field(min_length=1)


class StudiesParams(Params):
    lambda_: StudyParams | None = Field(None, alias="lambda")
    sampling: StudyParams | None = None
    search_quality: SearchQualityParams | None = None


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


def check_parameters(params: Mapping[str, Any]) -> ProjectParams:
    """Validate the run's merged parameters; :class:`ConfigError` names every bad key (``params:...``)."""
    try:
        project = validate_model(ProjectParams, dict(params))
    except ConfigError as err:
        raise ConfigError("\n".join(f"params:{line}" for line in str(err).splitlines())) from None
    _check_combinations(params)
    return project


def _check_combinations(params: Mapping[str, Any]) -> None:
    """The settings nodes merge at run time, merged by the nodes' own functions."""
    search, train, transfer = (dict(params.get(k) or {}) for k in ("search", "train", "transfer"))
    if params.get("search_spaces"):
        try:
            load_search_spaces(params["search_spaces"])
        except ConfigError as err:
            raise ConfigError(f"params:search_spaces: {err}") from None
    studies = params.get("studies") or {}
    for study in ("lambda", "sampling"):
        for run in (studies.get(study) or {}).get("runs", {}):
            merged = merge_settings(search, studies[study], run)
            parse_params(SearchParams, merged, f"studies.{study}.runs.{run} (over search and base)")
    quality = studies.get("search_quality")
    if quality:
        parse_params(SearchParams, study_search_settings(search, quality), "studies.search_quality.search")
        parse_params(TrainParams, study_train_settings(train, quality), "studies.search_quality.train")
        for name, target in quality.get("targets", {}).items():
            parse_params(TargetParams, target, f"studies.search_quality.targets.{name}")
    for name, overrides in (params.get("transfer_sets") or {}).items():
        try:
            transfer_params(transfer, overrides)
        except ConfigError as err:
            raise ConfigError(f"params:transfer_sets.{name} (over transfer): {err}") from None
