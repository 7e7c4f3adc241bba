"""The ``search_targets`` pipeline: the ``search`` pipeline once per entry of ``latency_targets``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, pipeline

from tfnas_kedro.pipelines._names import RunParameters, required
from tfnas_kedro.pipelines.search.pipeline import create_pipeline as create_search_pipeline

SHARED_INPUTS = {"search_split", "latency_table"}
SHARED_PARAMETERS = ("search", "latency", "search_spaces")


def namespaces(run: RunParameters) -> list[str]:
    """Names of the per-target searches (their namespaces): the keys of ``latency_targets``."""
    return run.names("latency_targets")


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    names = namespaces(required(run, "search_targets"))
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
        for name in names
    ]
    return sum(copies, start=Pipeline([]))
