"""Experiment tracking with MLflow: one MLflow run per ``kedro run``.

Each run records the run's parameters (those its pipelines read, flattened to ``search.epochs``),
the per-epoch metrics of every search, training and fine-tuning (``search.weight_loss`` at step
``epoch``; namespaced copies keep their namespace: ``fast.search.derived_ms``), the final numbers
of their summaries, and the artifacts a user compares runs by: architecture descriptions,
summaries and the HTML report. Configuration: ``conf/base/tracking.yml``; docs/report.md, "Experiment
tracking". Nothing is imported from MLflow when tracking is off.

Why a project hook and not kedro-mlflow: every kedro-mlflow release for Kedro 1.x imports a
``PythonModel`` subclass whose ``predict`` has no type hints, and every MLflow 3 release (which
those releases require) warns about that at import, on every ``kedro`` command, before the
project's settings are read; no pin avoids it and no project setting can silence it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from pydantic import BaseModel, ConfigDict

from tfnas_kedro.nas.errors import validate_model

logger = logging.getLogger(__name__)

# catalog names (namespace stripped) -> what they are; per-epoch tables become metrics
HISTORIES = {"search_history": "search", "training_history": "train", "transfer_history": "transfer"}
ARCHITECTURES = {"searched_architecture", "trained_architecture", "zoo_architectures"}
SUMMARIES = {"search_summary", "training_metrics", "transfer_metrics", "latency_fidelity_summary", "search_target"}
TEXTS = {"report_html": "report.html"}
MAX_PARAM_CHARS = 500  # longer values (search spaces) live in the parameters.json artifact only


class TrackingConfig(BaseModel):
    """``conf/<env>/tracking.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # null: a SQLite store in the project (data/09_tracking/mlflow.db); the MLFLOW_TRACKING_URI
    # environment variable, MLflow's own convention, wins over both
    tracking_uri: str | None = None
    experiment: str = "tfnas-kedro"

    def uri(self, project_path: Path) -> str:
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{local_store(project_path) / 'mlflow.db'}"


def local_store(project_path: Path) -> Path:
    """The project's own store: the run database and, beside it, the artifacts."""
    folder = Path(project_path).resolve() / "data" / "09_tracking"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# MLflow 3's UI files an experiment of no declared kind under its GenAI views ("Evaluations");
# this tag opens it as model training, in the view with runs, metrics and charts
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def use_experiment(mlflow, name: str, project_path: Path) -> None:
    """Make ``name`` the active experiment, marked as model training; a new one in the project's
    own store keeps its artifacts in that store too (MLflow would put them under the working
    directory)."""
    if mlflow.get_experiment_by_name(name) is None:
        local = mlflow.get_tracking_uri().startswith("sqlite:///" + str(local_store(project_path)))
        location = (local_store(project_path) / "artifacts").as_uri() if local else None
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    mlflow.set_experiment_tag(*EXPERIMENT_KIND)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"search": {"epochs": 3}}`` -> ``{"search.epochs": 3}`` (lists stay values)."""
    flat = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def history_metrics(history: pd.DataFrame, prefix: str) -> list[tuple[int, dict[str, float]]]:
    """(step, {metric: value}) per epoch for every numeric column of a per-epoch table."""
    numeric = history.select_dtypes("number").drop(columns=["epoch"], errors="ignore")
    steps = history["epoch"] if "epoch" in history else pd.Series(range(1, len(history) + 1))
    rows = []
    for step, (_, row) in zip(steps, numeric.iterrows(), strict=True):
        values = {f"{prefix}.{k}": float(v) for k, v in row.items() if pd.notna(v)}
        rows.append((int(step), values))
    return rows


def summary_metrics(summary: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The numbers (and booleans, as 0/1) at the top level of a summary."""
    return {
        f"{prefix}.{k}": float(v)
        for k, v in summary.items()
        if isinstance(v, int | float | bool) and not (isinstance(v, float) and v != v)
    }


def _split(dataset: str) -> tuple[str, str]:
    """``fast.search_history`` -> (``fast.``, ``search_history``)."""
    namespace, _, name = dataset.rpartition(".")
    return (f"{namespace}." if namespace else ""), name


class TrackingHooks:
    """Starts an MLflow run before the pipeline, logs what its nodes produce, ends it after."""

    def __init__(self) -> None:
        self._config: TrackingConfig | None = None
        self._project_path = Path.cwd()
        self._mlflow = None  # the module, while a run is active
        self._user_uri: str | None = None  # MLFLOW_TRACKING_URI as it was before the run

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            raw = context.config_loader["tracking"]
        except MissingConfigException:  # no tracking.yml in the configuration: the defaults
            raw = {}
        self._config = validate_model(TrackingConfig, dict(raw or {}), prefix="tracking.yml")
        self._project_path = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._config is None or not self._config.enabled:
            return
        import mlflow

        # MLflow 3 writes the URI into MLFLOW_TRACKING_URI; a later run in this process (a notebook,
        # a second session) would take it for the user's choice, so it is put back when the run ends
        self._user_uri = os.environ.get("MLFLOW_TRACKING_URI")
        mlflow.set_tracking_uri(self._config.uri(self._project_path))
        use_experiment(mlflow, self._config.experiment, self._project_path)
        names = run_params.get("pipeline_names") or ["__default__"]
        mlflow.start_run(run_name="+".join(names))
        self._mlflow = mlflow
        used = {name.split(":", 1)[1].split(".")[0] for name in pipeline.inputs() if name.startswith("params:")}
        params = {k: v for k, v in catalog.load("parameters").items() if k in used or k == "seed"}
        flat = {k: v for k, v in flatten(params).items() if len(str(v)) <= MAX_PARAM_CHARS}
        for start in range(0, len(flat), 100):  # MLflow takes at most 100 parameters per call
            mlflow.log_params(dict(list(flat.items())[start : start + 100]))
        mlflow.log_dict(params, "parameters.json")
        mlflow.set_tags({"kedro.env": run_params.get("env") or "local", "kedro.session_id": run_params.get("run_id")})
        logger.info(
            "tracking this run in MLflow: %s (experiment %s)", mlflow.get_tracking_uri(), self._config.experiment
        )

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        if self._mlflow is None:
            return
        for dataset, value in outputs.items():
            self._log_output(dataset, value)

    def _log_output(self, dataset: str, value: Any) -> None:
        mlflow, (namespace, name) = self._mlflow, _split(dataset)
        if name in HISTORIES and isinstance(value, pd.DataFrame):
            for step, metrics in history_metrics(value, f"{namespace}{HISTORIES[name]}"):
                mlflow.log_metrics(metrics, step=step)
        elif name in SUMMARIES and isinstance(value, Mapping | BaseModel):
            value = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
            mlflow.log_metrics(summary_metrics(value, f"{namespace}{name}"))
            mlflow.log_dict(json.loads(json.dumps(value, default=str)), f"summaries/{namespace}{name}.json")
        elif name in ARCHITECTURES:
            for arch_name, arch in value.items() if isinstance(value, Mapping) else [(name, value)]:
                mlflow.log_dict(
                    arch.model_dump(mode="json", by_alias=True), f"architectures/{namespace}{arch_name}.json"
                )
        elif name in TEXTS and isinstance(value, str):
            mlflow.log_text(value, f"{namespace}{TEXTS[name]}")

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._end("FINISHED")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._end("FAILED")

    def _end(self, status: str) -> None:
        if self._mlflow is not None:
            self._mlflow.end_run(status=status)
            self._mlflow = None
            if self._user_uri is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = self._user_uri
