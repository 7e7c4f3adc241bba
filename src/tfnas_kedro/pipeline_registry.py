"""Project pipelines, built from the parameters of the run that uses them.

The search, study and transfer pipelines hold one namespaced copy per latency target, study run or
transfer set, so the pipelines depend on the configuration: ``register_pipelines(parameters)``
builds them from a run's parameters (``session.ProjectSession`` passes every env of the run and its
``--params``). Kedro itself calls ``register_pipelines()`` without arguments (``kedro registry
list``, ``kedro viz run``, ``pipelines`` read before any session): then the parameters are those of
``project_parameters()``, the project's configuration in its default env.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from tfnas_kedro.pipelines import _names
from tfnas_kedro.pipelines.report.pipeline import create_pipeline as create_report_pipeline
from tfnas_kedro.project import project_root

# run on request only: several full searches (target sweep, studies), or training published
# models, are more than a default run should do
NOT_IN_DEFAULT = {
    "search_targets",
    "train_zoo",
    "transfer_zoo",
    "study_lambda",
    "study_sampling",
    "study_search_quality",
}


def project_parameters(
    conf_source: str | Path | None = None, env: str | None = None, runtime_params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The parameters a run with this configuration reads, loaded as a Kedro session loads them
    (the settings' config loader and its arguments). Without a ``conf_source``: the ``conf`` folder
    of the project that contains the working directory (never the working directory itself: from
    ``notebooks/`` that silently gave empty pipelines); without an ``env``: ``KEDRO_ENV``, else the
    loader's default run env."""
    from kedro.config import MissingConfigException
    from kedro.framework.project import settings

    if conf_source is None:
        root = project_root(Path.cwd())
        if root is None:
            raise _names.ConfigurationNotFound(
                f"no Kedro project contains {Path.cwd()}: run from inside the project, or create a "
                "KedroSession (with --conf-source for a packaged project) before reading its pipelines"
            )
        conf_source = root / settings.CONF_SOURCE
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(conf_source),
        env=env or os.getenv("KEDRO_ENV"),
        runtime_params=runtime_params,
        **settings.CONFIG_LOADER_ARGS,
    )
    try:
        return loader["parameters"]
    except (MissingConfigException, ValueError) as err:
        raise _names.ConfigurationNotFound(f"cannot read the parameters of {conf_source}: {err}") from err


def register_pipelines(parameters: Mapping[str, Any] | None = None) -> dict[str, Pipeline]:
    """Every pipeline, with one namespaced copy per name in ``parameters`` (see the module's docstring)."""
    with _names.reading(project_parameters() if parameters is None else parameters):
        pipelines = find_pipelines(raise_errors=True)
        pipelines["__default__"] = sum(
            (p for name, p in pipelines.items() if name not in NOT_IN_DEFAULT | {"__default__", "report"}),
            start=Pipeline([]),
        ) + create_report_pipeline(chained=True)  # reads what this run produced, so it runs last
    return pipelines


def missing_copies(
    parameters: Mapping[str, Any], registered: Mapping[str, Pipeline], names: list[str]
) -> dict[str, list[str]]:
    """Per pipeline of ``names``: the namespaces (latency targets, study runs, transfer sets) that
    ``parameters`` name but ``registered`` (the pipelines a run found) lacks."""
    expected = register_pipelines(parameters)
    missing = {}
    for name in names:
        if name not in expected:
            continue
        have = {n.name for n in registered[name].nodes} if name in registered else set()
        lacking = sorted({n.namespace or n.name for n in expected[name].nodes if n.name not in have})
        if lacking:
            missing[name] = lacking
    return missing
