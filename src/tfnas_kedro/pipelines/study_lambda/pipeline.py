"""``kedro run --pipelines study_lambda``: one search per entry of ``studies.lambda.runs`` (several
``latency_lambda``, elasticity-scaling on and off, several seeds); the figure shows the derived
architecture's latency per epoch with mean/min/max bands, as in the paper."""

from kedro.pipeline import Pipeline

from tfnas_kedro.pipelines._names import RunParameters
from tfnas_kedro.pipelines._study import study_namespaces, study_pipeline


def namespaces(run: RunParameters) -> list[str]:
    return study_namespaces(run, "lambda")


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    return study_pipeline(run, "lambda", metric="derived_ms")
