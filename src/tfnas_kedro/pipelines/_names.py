"""Names of namespaced pipeline copies (one search per latency target, one per study run, one
fine-tuning per transfer set), read from the ``base`` parameters of the project's configuration.

Pipelines are registered before a run's configuration is loaded, so the names come from the base
env; their values come from whichever env and ``--params`` the run uses. The configuration is the
one of the current Kedro context (``hooks.ConfigurationHooks`` passes its ``conf_source``: a
folder or a packaged ``conf-*.tar.gz``), else the ``conf`` folder of the project that contains the
working directory (``kedro registry list`` from any sub-folder, a notebook). Never the working
directory itself: from ``notebooks/`` that silently gave empty pipelines.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from tfnas_kedro.project import project_root

_MISSING = object()
_conf_source: str | None = None


class ConfigurationNotFound(RuntimeError):
    """The pipeline registry cannot find the project's configuration or a key it needs there."""


def use_conf_source(conf_source: str | Path) -> None:
    """Read names from ``conf_source`` from now on (the current context's configuration)."""
    global _conf_source
    if str(conf_source) != _conf_source:
        _conf_source = str(conf_source)
        _base_parameters.cache_clear()


def conf_source() -> str:
    """The configuration pipelines are registered from (see the module's docstring)."""
    if _conf_source is not None:
        return _conf_source
    root = project_root(Path.cwd())
    if root is None:
        raise ConfigurationNotFound(
            f"no Kedro project contains {Path.cwd()}: run from inside the project, or create a KedroSession "
            "(with --conf-source for a packaged project) before reading its pipelines"
        )
    return str(root / "conf")


@cache
def _base_parameters(source: str) -> dict[str, Any]:
    from kedro.config import MissingConfigException, OmegaConfigLoader

    try:
        loader = OmegaConfigLoader(source, base_env="base", default_run_env="base")
        return loader["parameters"]
    except (MissingConfigException, ValueError) as err:
        raise ConfigurationNotFound(f"cannot read the base parameters of {source}: {err}") from err


def base_parameter(key: str, default: Any = _MISSING) -> Any:
    """The value at ``key`` (dotted: ``studies.lambda.runs``) in the base parameters; without a
    ``default``, a missing key is an error (a pipeline never silently loses its copies)."""
    value: Any = _base_parameters(conf_source())
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            if default is _MISSING:
                raise ConfigurationNotFound(
                    f"{key} is not in the base parameters of {conf_source()}: the pipeline registry reads the "
                    "names of its namespaced copies there"
                )
            return default
        value = value[part]
    return value


def base_parameter_keys(key: str) -> list[str]:
    """The keys of the mapping at ``key``: the names of one namespaced copy each (never empty)."""
    value = base_parameter(key)
    if not isinstance(value, dict) or not value:
        raise ConfigurationNotFound(f"{key} in the base parameters of {conf_source()} must be a non-empty mapping")
    return list(value)
