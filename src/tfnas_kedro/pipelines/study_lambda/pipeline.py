"""``kedro run --pipelines study_lambda``: one search per entry of ``studies.lambda.runs`` (several
``latency_lambda``, elasticity-scaling on and off, several seeds); the figure shows the derived
architecture's latency per epoch with mean/min/max bands, as in the paper."""

from kedro.pipeline import Pipeline

from tfnas_kedro.pipelines._study import study_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return study_pipeline("lambda", metric="derived_ms")
