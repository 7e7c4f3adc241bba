"""The ``search_targets`` pipeline: the ``search`` pipeline once per entry of ``latency_targets``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, pipeline

from tfnas_kedro.pipelines._names import run_parameter_keys
from tfnas_kedro.pipelines.search.pipeline import create_pipeline as create_search_pipeline

SHARED_INPUTS = {"search_split", "latency_table"}
SHARED_PARAMETERS = ("search", "latency", "search_spaces")


def target_names() -> list[str]:
    """Names of the per-target searches: the keys of ``latency_targets`` in the run's parameters."""
    return run_parameter_keys("latency_targets")


def create_pipeline(names: list[str] | None = None, **kwargs) -> Pipeline:
    template = create_search_pipeline()
    copies = [
        pipeline(
            template,
            namespace=name,
            inputs=SHARED_INPUTS,
            parameters={
                **{f"params:{p}": f"params:{p}" for p in SHARED_PARAMETERS},
                "params:target": f"params:latency_targets.{name}",
            },
        )
        for name in (target_names() if names is None else names)
    ]
    return sum(copies, start=Pipeline([]))
