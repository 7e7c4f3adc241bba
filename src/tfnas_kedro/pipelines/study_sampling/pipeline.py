"""``kedro run --pipelines study_sampling``: one search per entry of ``studies.sampling.runs``
(bi-sampling on and off, several seeds); the figure shows the supernet's validation top-1 per
epoch with mean/min/max bands."""

from kedro.pipeline import Pipeline

from tfnas_kedro.pipelines._names import RunParameters
from tfnas_kedro.pipelines._study import study_namespaces, study_pipeline


def namespaces(run: RunParameters) -> list[str]:
    return study_namespaces(run, "sampling")


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    return study_pipeline(run, "sampling", metric="val_top1")
