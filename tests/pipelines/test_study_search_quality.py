import json

import pandas as pd
import pytest

from .conftest import latest_version
from .test_search import TINY, _prepare

STUDY = {
    # uniform random draws rarely reach the top of the tiny table's range: targets in its middle
    "targets": {"low": {"fraction": 0.3}, "high": {"fraction": 0.5}},
    "search": {"epochs": 2, "warmup_epochs": 1, "measure_latency": False, "batch_size": 8},
    "train": {"epochs": 1, "warmup_epochs": 0, "input_size": 32, "batch_size": 8, "measure_latency": False},
    "random_architectures": 2,
    "searched_seeds": 2,
    "recalibration_images": 16,
    "bootstrap_rounds": 200,
}


@pytest.mark.slow
def test_searched_and_random_architectures_are_retrained_alike_and_compared_with_intervals(kedro_project, run_pipeline):
    _prepare(run_pipeline)
    params = {
        **TINY,
        "search": {**TINY["search"], "checkpoint_dir": str(kedro_project / "ckpt")},
        "studies": {"search_quality": {**STUDY, "train": {**STUDY["train"], "checkpoint_dir": str(kedro_project)}}},
    }
    run_pipeline("study_search_quality", params=params)
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/study_search_quality.parquet"))
    assert list(table["target"].unique()) == ["low", "high"]
    for _, rows in table.groupby("target"):
        # the searched architecture once per seed, each random one and the published model once
        assert rows["run"].tolist() == ["searched_seed0", "searched_seed1", "random_0", "random_1", "zoo"]
        assert rows.loc[rows["kind"] == "searched", "name"].nunique() == 1
        searched_ms = rows.loc[rows["kind"] == "searched", "table_ms"].iloc[0]
        random_ms = rows.loc[rows["kind"] == "random", "table_ms"]
        assert ((random_ms <= searched_ms) & (random_ms >= 0.99 * searched_ms)).all()  # the same table latency
        assert ((rows["top1_low"] <= rows["top1"]) & (rows["top1"] <= rows["top1_high"])).all()
        # scored through the supernet: every path of it (searched, random), not the published model
        assert rows.loc[rows["kind"] != "zoo", "supernet_top1"].between(0, 1).all()
        assert rows.loc[rows["kind"] == "zoo", "supernet_top1"].isna().all()
    # the test split, scored once after training, is what top-1 means here
    test = json.loads(
        latest_version(kedro_project, "data/07_model_output/search_quality.low.random_0/test_metrics.json").read_text()
    )
    assert test["images"] == len(test["correct_per_image"]) > 0 and test["top1"] == pytest.approx(
        sum(test["correct_per_image"]) / test["images"]
    )
    stats = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/study_search_quality_stats.parquet"))
    assert stats["target"].tolist() == ["low", "high"]
    for row in stats.to_dict("records"):
        if row["searched_runs"] and row["random_runs"]:
            assert row["difference_low"] <= row["difference"] <= row["difference_high"]
            assert row["verdict"] in ("searched better", "random better", "no difference shown")
        assert row["tau_candidates"] == 3 - (row["left_out"] or "").count("(")
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/study_search_quality.json").read_text())
    assert {"searched (each run)", "random (each run)", "zoo"} <= {trace["name"] for trace in figure["data"]}

    run_pipeline("report", params=TINY)
    page = latest_version(kedro_project, "data/08_reporting/report.html").read_text()
    assert "Searched vs random at equal latency" in page and "difference_high" in page and "kendall_tau" in page
