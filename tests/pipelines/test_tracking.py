"""Experiment tracking: a run leaves an MLflow run with its parameters, metrics and artifacts."""

import os

import pandas as pd
import pytest

from tfnas_kedro.tracking import flatten, history_metrics, summary_metrics

from .test_search import TINY


@pytest.mark.slow
def test_a_search_run_is_tracked_with_its_metrics_parameters_and_artifacts(
    kedro_project, run_pipeline, run_upstream, monkeypatch
):
    run_upstream(("data_selection", "latency"), TINY)  # untracked (the fixture turns tracking off)
    store = f"sqlite:///{kedro_project / 'store' / 'mlflow.db'}"
    (kedro_project / "store").mkdir()
    (kedro_project / "conf/local/tracking.yml").write_text(f"enabled: true\ntracking_uri: {store}\nexperiment: t\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # a store of the user's own keeps MLflow's default artifact root, ./mlruns of the working
    # directory: the project copy's, not the repository's
    monkeypatch.chdir(kedro_project)
    search = {**TINY["search"], "epochs": 3, "checkpoint_dir": str(kedro_project / "ckpt")}
    run_pipeline("search", params={**TINY, "search": search})
    # MLflow writes the URI into the environment; left there, the next run in this process would use it
    assert "MLFLOW_TRACKING_URI" not in os.environ

    from mlflow import MlflowClient  # 1.4 s to import: here, not in every pytest process's collection

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("t")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # opens as model training
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "search"
    assert run.data.params["search.epochs"] == "3" and run.data.params["target.fraction"] == "0.5"
    losses = client.get_metric_history(run.info.run_id, "search.weight_loss")
    assert [m.step for m in sorted(losses, key=lambda m: m.step)] == [0, 1, 2]  # one value per epoch
    assert {"search.derived_ms", "search.val_top1", "search_summary.table_ms"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"architectures", "summaries", "parameters.json"} <= artifacts
    archs = {a.path for a in client.list_artifacts(run.info.run_id, "architectures")}
    assert archs == {"architectures/searched_architecture.json"}
    arch = client.download_artifacts(run.info.run_id, "architectures/searched_architecture.json", str(kedro_project))
    assert '"blocks"' in open(arch).read()
    assert (kedro_project / "mlruns").is_dir()  # the store's artifacts, in the copy


def test_per_epoch_tables_become_metrics_at_their_epoch():
    history = pd.DataFrame({"epoch": [0, 1], "weight_loss": [2.3, 2.1], "val_top1": [0.1, float("nan")], "note": "x"})
    assert history_metrics(history, "fast.search") == [
        (0, {"fast.search.weight_loss": 2.3, "fast.search.val_top1": 0.1}),
        (1, {"fast.search.weight_loss": 2.1}),
    ]
    assert summary_metrics({"gap": 0.01, "target_met": True, "name": "x", "nan": float("nan")}, "s") == {
        "s.gap": 0.01,
        "s.target_met": 1.0,
    }
    assert flatten({"search": {"epochs": 3, "distributed": {"nnodes": 1}}, "seed": 1}) == {
        "search.epochs": 3,
        "search.distributed.nnodes": 1,
        "seed": 1,
    }
