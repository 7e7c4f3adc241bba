import json

import pandas as pd
import pytest
import yaml

from tfnas_kedro.datasets import LatencyTableDataset

from .conftest import latest_version

TINY = {
    "latency": {
        "spaces": ["tfnas", "tfnas_wose"],
        "resolution": 32,
        "width_step": 256,
        "channel_block": 0,  # one grid: half the entries of the runtime's block (the onnxruntime test keeps it)
        "warmup": 1,
        "repeats": 2,
        "rounds": 1,
        "remeasure": 0,
        "calibration_networks": 3,
        "fidelity_models": ["TF-NAS-A", "TF-NAS-D-wose", "TF-NAS-MBV2-A"],
        "noise_repeats": 2,
    }
}


@pytest.mark.slow
def test_latency_pipeline_end_to_end(kedro_project, run_pipeline):
    run_pipeline("latency", params=TINY)
    table = LatencyTableDataset(
        filepath=str(latest_version(kedro_project, "data/05_model_input/latency_table.parquet"))
    ).load()
    assert table.meta.resolution == 32 and table.meta.num_classes == 10 and table.meta.calibration.networks == 3
    raw = LatencyTableDataset(
        filepath=str(latest_version(kedro_project, "data/04_feature/raw_latency_table.parquet"))
    ).load()
    assert raw.meta.calibration.scale == 1.0 and len(raw.entries) == len(table.entries)
    calibration = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/latency_calibration.parquet"))
    assert len(calibration) == 3
    fidelity = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/latency_fidelity.parquet"))
    assert fidelity["name"].tolist() == ["TF-NAS-A", "TF-NAS-D-wose"]  # the MBV2 model is outside the table
    assert [a.name for a in table.meta.calibration.held_out.archs] == fidelity["name"].tolist()  # stored with it
    assert (fidelity["measured_ms"] > 0).all() and fidelity["relative_error"].notna().all()
    summary = json.loads(
        latest_version(kedro_project, "data/07_model_output/latency_fidelity_summary.json").read_text()
    )
    assert summary["models"] == 2 and len(summary["noise_floor"]["ms"]) == 1 + 2 and summary["threads"] == 1
    # the table carries its own check: what a network it prices is held to
    assert table.meta.calibration.held_out.max_abs_error == pytest.approx(summary["max_abs_error"])
    fitted = table.meta.calibration.max_abs_residual_fitted
    assert table.fidelity_bound == pytest.approx(
        max(summary["max_abs_error"], summary["noise_floor"]["spread"], fitted)
    )
    assert raw.fidelity_bound is None
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/latency_fidelity.json").read_text())
    assert [trace["name"] for trace in figure["data"]] == [
        "y = x",
        "calibration samples",
        "published models (held out)",
    ]


def test_unknown_space_is_named(run_pipeline):
    with pytest.raises(ValueError, match=r"params:latency.spaces: unknown search space\(s\) \['resnet'\]"):
        run_pipeline("latency", params={"latency": {"spaces": ["resnet"]}})


def test_a_search_refuses_a_table_of_another_runtime_naming_both(spaces):
    from tests.conftest import PROJECT_ROOT, synthetic_table
    from tfnas_kedro.pipelines.search.nodes import resolve_target

    table = synthetic_table(spaces["tfnas"], resolution=32)  # timed in eager torch
    search_spaces = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_search_spaces.yml").read_text())
    search, target = {"input_size": 32}, {"fraction": 0.5}
    resolved = resolve_target(table, search, target, {"runtime": "torch"}, search_spaces)
    assert resolved.runtime == "torch"
    with pytest.raises(ValueError, match="timed in torch .*runtime 'onnxruntime' is configured: rebuild the table"):
        resolve_target(table, search, target, {"runtime": "onnxruntime"}, search_spaces)


@pytest.mark.slow
def test_a_space_without_published_models_is_checked_on_random_networks_a_search_then_times_again(
    kedro_project, run_pipeline
):
    """A space of one's own (the tests' small space) holds none of the published models: the table
    is checked on random networks of it, drawn apart from the calibration's, stored with the
    table, and the search times the same ones beside its result."""
    from .test_search import TINY as SEARCH

    params = {
        **SEARCH,
        "latency": {**SEARCH["latency"], "spaces": ["small"], "fidelity_models": "all"},
        "search": {**SEARCH["search"], "checkpoint_dir": str(kedro_project / "c")},
    }
    for pipeline in ("data_selection", "latency", "search"):
        run_pipeline(pipeline, params=params)
    table = LatencyTableDataset(
        filepath=str(latest_version(kedro_project, "data/05_model_input/latency_table.parquet"))
    ).load()
    held_out = table.meta.calibration.held_out
    assert held_out.models == 4 and [a.name for a in held_out.archs] == [f"held-out-{i}" for i in range(4)]
    assert all(a.space == "small" for a in held_out.archs)
    calibration = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/latency_calibration.parquet"))
    assert calibration["name"].str.startswith("sample-").all()  # the fit's networks, not the held-out ones
    summary = json.loads(latest_version(kedro_project, "data/07_model_output/search_summary.json").read_text())
    assert summary["session_fidelity"]["models"] == 4 and summary["measured_ms"] > 0
