"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# run on request only: several full searches, or training published models, are more than a
# default run should do
NOT_IN_DEFAULT = {"search_targets", "train_zoo", "transfer_zoo"}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (p for name, p in pipelines.items() if name not in NOT_IN_DEFAULT and name != "__default__"), start=Pipeline([])
    )
    return pipelines
