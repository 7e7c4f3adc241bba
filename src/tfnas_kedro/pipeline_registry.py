"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from tfnas_kedro.pipelines.report.pipeline import create_pipeline as create_report_pipeline

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


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name not in NOT_IN_DEFAULT | {"__default__", "report"}),
        start=Pipeline([]),
    ) + create_report_pipeline(chained=True)  # reads what this run produced, so it runs last
    return pipelines
