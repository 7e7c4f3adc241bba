"""The parameters a run's pipelines are built from: the names of their namespaced copies (one
search per latency target, one per study run, one fine-tuning per transfer set) and the settings
that change their shape (``latency.runtime``: an ExecuTorch table adds the program's export).

``pipeline_registry.register_pipelines`` wraps a run's parameters (every env of the run and its
``--params`` merged: ``session.ProjectSession`` passes them) in a :class:`RunParameters` and hands
it to every ``create_pipeline(run=...)``: the names travel as an argument, never through state
that outlives the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()


class ConfigurationNotFound(RuntimeError):
    """The pipeline registry has no parameters to read names from, or lacks a key it needs there."""


@dataclass(frozen=True)
class RunParameters:
    """A run's parameters, read by the ``create_pipeline`` functions that depend on them."""

    values: Mapping[str, Any] = field(repr=False)

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The value at ``key`` (dotted: ``studies.lambda.runs``); without a ``default``, a missing
        key is an error (a pipeline never silently loses its copies)."""
        value: Any = self.values
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

    def names(self, key: str) -> list[str]:
        """The keys of the mapping at ``key``: the names of one namespaced copy each (never empty)."""
        value = self.get(key)
        if not isinstance(value, Mapping) or not value:
            raise ConfigurationNotFound(f"{key} in the run's parameters must be a non-empty mapping")
        return [str(name) for name in value]


def required(run: RunParameters | None, pipeline: str) -> RunParameters:
    """``run``, or an error naming how ``pipeline`` is built: its copies come from a run's parameters."""
    if run is None:
        raise ConfigurationNotFound(
            f"the {pipeline} pipeline is built from a run's parameters: call tfnas_kedro.pipeline_registry."
            "register_pipelines(parameters), or its create_pipeline(run=RunParameters(parameters))"
        )
    return run
