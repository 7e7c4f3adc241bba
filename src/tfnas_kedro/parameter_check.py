"""Every parameter of the project, checked before any node runs (``hooks.ParameterHooks``).

The nodes validate their own ``params:`` groups too, but only when they run: a misspelt key of the
report would surface after the whole search. Here the merged parameters of the run (base, env and
``--params``) are checked as a whole, each group against the model its nodes use (``tfnas_kedro.params``), and every
combination a node builds (a study's run settings, a transfer set over ``transfer``) as that node
will build it. Unknown keys, at any level, stop the run with the key named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.errors import ConfigError, validate_model
from tfnas_kedro.params import (
    ProjectParams,
    SearchParams,
    TargetParams,
    TrainParams,
    merge_settings,
    parse_params,
    study_search_settings,
    study_train_settings,
    transfer_params,
)


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
