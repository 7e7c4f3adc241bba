import json

import pandas as pd
import pytest

from .conftest import latest_version
from .test_search import TINY, _prepare

STUDY = {
    # uniform random draws rarely reach the top of the tiny table's range: targets in its middle
    "targets": {"low": {"fraction": 0.25}, "mid": {"fraction": 0.4}, "high": {"fraction": 0.5}},
    "search": {"epochs": 2, "warmup_epochs": 1, "measure_latency": False, "batch_size": 8},
    "train": {"epochs": 1, "warmup_epochs": 0, "input_size": 32, "batch_size": 8, "measure_latency": False},
}


@pytest.mark.slow
def test_searched_random_and_published_architectures_are_retrained_alike(kedro_project, run_pipeline):
    _prepare(run_pipeline)
    params = {
        **TINY,
        "search": {**TINY["search"], "checkpoint_dir": str(kedro_project / "ckpt")},
        "studies": {"search_quality": {**STUDY, "train": {**STUDY["train"], "checkpoint_dir": str(kedro_project)}}},
    }
    run_pipeline("study_search_quality", params=params)
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/study_search_quality.parquet"))
    assert list(table["target"].unique()) == ["low", "mid", "high"]
    for _, rows in table.groupby("target"):
        assert rows["kind"].tolist() == ["searched", "random", "random", "random", "zoo"]
        searched_ms = rows.loc[rows["kind"] == "searched", "table_ms"].iloc[0]
        random_ms = rows.loc[rows["kind"] == "random", "table_ms"]
        assert ((random_ms <= searched_ms) & (random_ms >= 0.99 * searched_ms)).all()  # the same table latency
        assert rows["top1"].between(0, 1).all() and (rows["macs_m"] > 0).all() and rows["name"].is_unique
    targets = table.drop_duplicates("target")["target_ms"].tolist()
    assert targets == sorted(targets)  # low < mid < high
    # every target's search started from the one shared warm-up
    histories = [f"data/07_model_output/search_quality.{t}/search_history.parquet" for t in ("low", "mid", "high")]
    first_epochs = [pd.read_parquet(latest_version(kedro_project, h)).iloc[0]["weight_loss"] for h in histories]
    assert first_epochs[0] == first_epochs[1] == first_epochs[2]
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/study_search_quality.json").read_text())
    assert {trace["name"] for trace in figure["data"]} >= {"searched", "random (mean, min-max)", "zoo"}

    run_pipeline("report", params=TINY)
    page = latest_version(kedro_project, "data/08_reporting/report.html").read_text()
    assert "Searched vs random at equal latency" in page and "searched_minus_random_mean" in page
