"""The ``search_targets`` pipeline: the ``search`` pipeline once per entry of ``latency_targets``."""

from __future__ import annotations

from pathlib import Path

import yaml
from kedro.pipeline import Pipeline, pipeline

from tfnas_kedro.pipelines.search.pipeline import create_pipeline as create_search_pipeline

SHARED_INPUTS = {"search_split", "latency_table"}
SHARED_PARAMETERS = ("search", "latency", "search_spaces")


def target_names(conf_root: Path | None = None) -> list[str]:
    """Names of the per-target searches: the keys of ``latency_targets`` in conf/base.

    Pipelines are registered before any configuration is loaded, so the names come from the base
    file; their values (the targets) come from whichever env and ``--params`` the run uses.
    """
    path = (conf_root or Path.cwd() / "conf") / "base" / "parameters_search.yml"
    if not path.exists():
        return []
    return list((yaml.safe_load(path.read_text()) or {}).get("latency_targets", {}))


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
