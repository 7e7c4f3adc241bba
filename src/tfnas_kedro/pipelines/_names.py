"""Names of namespaced pipeline copies (one search per latency target, one per study run, one
fine-tuning per transfer set), read from the parameters a run uses.

``pipeline_registry.register_pipelines`` is given those parameters explicitly (every env of the
run and its ``--params`` merged: ``session.ProjectSession`` passes them) and builds the pipelines
inside ``reading(parameters)``; the ``create_pipeline`` functions read their names here. Outside a
registration there are no parameters to read, and asking for a name is an error rather than an
empty pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_MISSING = object()
# set by ``reading`` for the length of one registration only (reset when it returns or fails)
_parameters: ContextVar[Mapping[str, Any] | None] = ContextVar("tfnas_registry_parameters", default=None)


class ConfigurationNotFound(RuntimeError):
    """The pipeline registry has no parameters to read names from, or lacks a key it needs there."""


@contextmanager
def reading(parameters: Mapping[str, Any]) -> Iterator[None]:
    """Pipelines built inside this block take their copies' names from ``parameters``."""
    token = _parameters.set(parameters)
    try:
        yield
    finally:
        _parameters.reset(token)


def run_parameter(key: str, default: Any = _MISSING) -> Any:
    """The value at ``key`` (dotted: ``studies.lambda.runs``) in the run's parameters; without a
    ``default``, a missing key is an error (a pipeline never silently loses its copies)."""
    value: Any = _parameters.get()
    if value is None:
        raise ConfigurationNotFound(
            f"{key}: pipelines are built by tfnas_kedro.pipeline_registry.register_pipelines, which reads "
            "the names of their namespaced copies from a run's parameters"
        )
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            if default is _MISSING:
                raise ConfigurationNotFound(
                    f"{key} is not in the run's parameters: the pipeline registry reads the names of its "
                    "namespaced copies there"
                )
            return default
        value = value[part]
    return value


def run_parameter_keys(key: str) -> list[str]:
    """The keys of the mapping at ``key``: the names of one namespaced copy each (never empty)."""
    value = run_parameter(key)
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationNotFound(f"{key} in the run's parameters must be a non-empty mapping")
    return [str(name) for name in value]
