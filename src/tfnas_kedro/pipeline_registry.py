"""Project pipelines, built from the parameters of the run that uses them.

The search, study and transfer pipelines hold one namespaced copy per latency target, study run or
transfer set, so the pipelines depend on the configuration: ``register_pipelines(parameters)``
builds them from a run's parameters (``session.ProjectSession`` passes every env of the run and its
``--params``). Kedro itself calls ``register_pipelines()`` without arguments (``kedro registry
list``, ``kedro viz run``, ``pipelines`` read before any session): then the parameters are those of
``project_parameters()``, the project's configuration in its default env.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from kedro.pipeline import Pipeline

from tfnas_kedro.pipelines import _names
from tfnas_kedro.pipelines._names import RunParameters
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


def pipeline_modules() -> dict[str, ModuleType]:
    """Each pipeline's ``pipeline`` module by pipeline name: the packages under
    ``tfnas_kedro.pipelines`` (those not starting with ``_``), as Kedro's ``find_pipelines`` finds them."""
    import tfnas_kedro.pipelines as package

    found = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.ispkg)
    return {name: importlib.import_module(f"{package.__name__}.{name}.pipeline") for name in found if name[0] != "_"}


def register_pipelines(parameters: Mapping[str, Any] | None = None) -> dict[str, Pipeline]:
    """Every pipeline, with one namespaced copy per name in ``parameters`` (see the module's
    docstring): each ``create_pipeline`` is given them as ``run``."""
    run, modules = RunParameters(project_parameters() if parameters is None else parameters), pipeline_modules()
    pipelines = {name: module.create_pipeline(run=run) for name, module in modules.items()}
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name not in NOT_IN_DEFAULT | {"report"}), start=Pipeline([])
    ) + modules["report"].create_pipeline(run=run, chained=True)  # reads what this run produced: last
    return pipelines


def missing_copies(
    parameters: Mapping[str, Any], registered: Mapping[str, Pipeline], names: list[str]
) -> dict[str, list[str]]:
    """Per pipeline of ``names``: the namespaces of copies (latency targets, study runs, transfer
    sets) that ``parameters`` name but ``registered`` (the pipelines a run found) lacks. Read from
    each pipeline module's ``namespaces(run)``, without building the pipelines again."""
    run, modules = RunParameters(parameters), pipeline_modules()
    expected = {name: module.namespaces(run) for name, module in modules.items() if hasattr(module, "namespaces")}
    expected["__default__"] = [space for name, spaces in expected.items() if name not in NOT_IN_DEFAULT
                               for space in spaces]  # fmt: skip
    missing = {}
    for name in names:
        have = {n.namespace for n in registered[name].nodes if n.namespace} if name in registered else set()
        lacking = [s for s in expected.get(name, []) if not any(h == s or h.startswith(f"{s}.") for h in have)]
        if lacking:
            missing[name] = lacking
    return missing
