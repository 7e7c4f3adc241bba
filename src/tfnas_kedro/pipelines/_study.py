"""The paper's studies as pipelines: the ``search`` pipeline once per run of a study, each run in
its own namespace (``study_<study>.<run>``) with its own settings (the search settings, the
study's ``base`` and the run's overrides, merged), then one summary: a metric per epoch with
mean/min/max bands over the seeds of each setting, and a table of every run's final numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from kedro.pipeline import Pipeline, node, pipeline

from tfnas_kedro.params import merge_settings
from tfnas_kedro.pipelines._names import RunParameters, required
from tfnas_kedro.pipelines.search.pipeline import create_pipeline as create_search_pipeline

SHARED_INPUTS = {"search_split", "latency_table"}


def run_names(run: RunParameters, study: str) -> list[str]:
    return run.names(f"studies.{study}.runs")


def study_namespaces(run: RunParameters, study: str) -> list[str]:
    return [f"study_{study}.{name}" for name in run_names(run, study)]


def summarise_study(study_params: dict, metric: str, **outputs) -> tuple[pd.DataFrame, go.Figure]:
    """Per run (``<run>_history`` and ``<run>_summary`` in ``outputs``): the derived architecture's
    table latency, gap and MACs, and the last epoch's validation top-1; and ``metric`` per epoch
    per setting (runs that differ only in ``seed``) as the mean line within a min-max band."""
    study, rows, curves = study_params, [], {}
    for run, settings in study["runs"].items():
        history, summary = outputs[f"{run}_history"], outputs[f"{run}_summary"]
        label = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if k != "seed") or "default"
        rows.append({"run": run, "setting": label, "seed": settings.get("seed"), "epochs": len(history),
                     "target_ms": summary.target_ms, "table_ms": summary.table_ms,
                     "gap_percent": 100 * summary.gap, "target_met": summary.target_met,
                     "macs_m": summary.macs_m, "final_val_top1": history.iloc[-1]["val_top1"]})  # fmt: skip
        curves.setdefault(label, []).append(history[metric].to_numpy(dtype=float))
    figure = go.Figure()
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d"]
    for i, (label, series) in enumerate(curves.items()):
        length = min(len(s) for s in series)
        values = np.stack([s[:length] for s in series])
        epochs = list(range(1, length + 1))
        colour = palette[i % len(palette)]
        figure.add_trace(go.Scatter(x=epochs + epochs[::-1], y=list(values.max(0)) + list(values.min(0)[::-1]),
                                    fill="toself", opacity=0.2, line={"width": 0}, fillcolor=colour,
                                    name=f"{label} (min-max over {len(series)} seeds)", hoverinfo="skip"))  # fmt: skip
        figure.add_trace(go.Scatter(x=epochs, y=values.mean(0), mode="lines+markers", line={"color": colour},
                                    name=f"{label} (mean over {len(series)} seeds)"))  # fmt: skip
    if metric == "derived_ms" and rows:
        figure.add_hline(y=rows[0]["target_ms"], line_dash="dash", annotation_text="target")
    figure.update_layout(title=f"{study.get('title', 'study')}: {metric} per epoch", xaxis_title="epoch",
                         yaxis_title=metric, template="plotly_white")  # fmt: skip
    return with_spread_over_seeds(pd.DataFrame(rows)), figure


SPREAD_COLUMNS = ("final_val_top1", "table_ms", "gap_percent", "macs_m")


def with_spread_over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Each run's row with its setting's mean and standard deviation over the seeds (``seeds``,
    ``<column>_mean``, ``<column>_std``): one seed's figure is read against its setting's spread."""
    if table.empty:
        return table
    grouped = table.groupby("setting", sort=False)[list(SPREAD_COLUMNS)]
    spread = grouped.agg(["mean", "std"])
    spread.columns = [f"{column}_{stat}" for column, stat in spread.columns]
    spread["seeds"] = table.groupby("setting", sort=False).size()
    return table.join(spread, on="setting")


def settings_of_run(run: str):
    """The node function that merges the settings of ``run`` (a named function: Kedro reads its type hints)."""

    def merge_run_settings(search: dict, study: dict) -> dict:
        return merge_settings(search, study, run)

    return merge_run_settings


def summary_of(metric: str):
    """The node function that summarises a study on ``metric``."""

    def summarise(study_params: dict, **outputs) -> tuple[pd.DataFrame, go.Figure]:
        return summarise_study(study_params, metric, **outputs)

    return summarise


def study_pipeline(run_parameters: RunParameters | None, study: str, metric: str) -> Pipeline:
    """One search per run of ``studies.<study>.runs`` in namespace ``study_<study>.<run>``, then the summary."""
    runs, namespace = run_names(required(run_parameters, f"study_{study}"), study), f"study_{study}"
    parameters = {"params:search", f"params:studies.{study}", "params:target", "params:latency", "params:search_spaces"}
    copies = [
        pipeline(
            [
                node(settings_of_run(run), ["params:search", f"params:studies.{study}"], "search_settings",
                     name="merge_settings"),
                create_search_pipeline(settings="search_settings"),
            ],
            namespace=run,
            inputs=SHARED_INPUTS,
            parameters=parameters,
        )
        for run in runs
    ]  # fmt: skip
    summary = node(
        summary_of(metric),
        {
            "study_params": f"params:studies.{study}",
            **{f"{run}_history": f"{namespace}.{run}.search_history" for run in runs},
            **{f"{run}_summary": f"{namespace}.{run}.search_summary" for run in runs},
        },
        [f"study_{study}_table", f"study_{study}_plot"],
        name=f"summarise_{study}_study",
        namespace=namespace,  # it reads the runs' namespaced outputs
    )
    runs_pipeline = pipeline(
        sum(copies, start=Pipeline([])), namespace=namespace, inputs=SHARED_INPUTS, parameters=parameters
    )
    return runs_pipeline + pipeline([summary])
