import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tfnas_kedro.datasets import ArchitectureDataset, LatencyTableDataset, TorchCheckpointDataset
from tfnas_kedro.nas import build_network, load_search_spaces
from tfnas_kedro.nas.search import SearchError
from tfnas_kedro.nas.warm_start import WarmStartError

from ..conftest import SMALL_SPACE_FILE, synthetic_table
from .conftest import latest_version, load_latest, only_targets, run_in_memory
from .test_data_selection import TINY as TINY_DATA
from .test_latency import TINY as TINY_LATENCY

# searches run in the tests' small space; the table also covers the paper's space (the same stem
# and head), which prices the published model the table's fidelity is checked on
TINY = {
    **TINY_DATA,
    "search_spaces": yaml.safe_load(SMALL_SPACE_FILE.read_text())["search_spaces"],
    "latency": {
        **TINY_LATENCY["latency"],
        "spaces": ["small", "tfnas"],
        "num_classes": 4,
        "fidelity_models": ["TF-NAS-D"],
    },
    "search": {
        "init": "scratch",  # the demo's warm start is EfficientNet-Lite0's channel plan, not the small space's
        "search_space": "small",
        "input_size": 32,
        "batch_size": 8,
        "epochs": 2,
        "warmup_epochs": 1,
        "measure_latency": True,
    },
}


# every timed call comes after the other modules of its group: a block's weights are no longer
# in cache, as in a network, where they were last used an inference ago
COLD_CACHES = {"warmup": 0, "repeats": 1, "rounds": 15}


def _prepare(run_upstream):
    run_upstream(("data_selection", "latency"), TINY)


@pytest.mark.slow
def test_search_pipeline_meets_the_target_and_writes_every_output(kedro_project, run_pipeline, run_upstream):
    _prepare(run_upstream)
    run_pipeline("search", params={**TINY, "search": {**TINY["search"], "checkpoint_dir": str(kedro_project / "ckpt")}})
    target = json.loads(latest_version(kedro_project, "data/05_model_input/search_target.json").read_text())
    low, high = target["reachable_ms"]
    assert target["target_ms"] == pytest.approx(low + 0.5 * (high - low))  # fraction 0.5 of the range
    summary = json.loads(latest_version(kedro_project, "data/07_model_output/search_summary.json").read_text())
    # never above the target; within 1% below it, or the closest result below it, said so
    # (fit_to_target's contract: on this noisy 32 px table a CI run once ended 1.43% below)
    changes = summary["fallback_changes"]
    closest = bool(changes) and changes[-1].startswith("kept the closest result below the target")
    assert summary["target_met"] and 0 <= summary["gap"] and (summary["gap"] < 0.01 or closest), summary
    assert summary["fallback_count"] == len(changes) and "own_gap" in summary
    status = summary["supernet"]  # a two-epoch search has not learned, and says so
    assert not status["learned"] and status["chance_loss"] == pytest.approx(1.3863, abs=1e-4)
    assert summary["measured_ms"] > 0 and summary["macs_m"] > 0
    assert summary["session_fidelity"]["models"] == 1  # timed among the table's fidelity models (TF-NAS-D)
    arch = load_latest(kedro_project, "data/06_models/searched_architecture.json", ArchitectureDataset)
    table = load_latest(kedro_project, "data/05_model_input/latency_table.parquet", LatencyTableDataset)
    assert table.predict(arch) == pytest.approx(summary["table_ms"]) and arch.num_classes == 4
    assert build_network(arch).eval()(torch.randn(1, 3, 32, 32)).shape == (1, 4)
    history = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/search_history.parquet"))
    assert history["epoch"].tolist() == [0, 1]
    assert {"val_top1_single_depth", "alpha_entropy", "beta_entropy", "loss_target_ms"} <= set(history.columns)
    for plot in ("latency", "probabilities", "widths"):
        assert json.loads(latest_version(kedro_project, f"data/08_reporting/search_{plot}.json").read_text())["data"]
    resume = list((kedro_project / "ckpt").glob("*/last.pt"))
    assert len(resume) == 1
    # the versioned result holds what derivation and the report read; the supernet and the
    # optimisers stay in the resume checkpoint it names
    result = load_latest(kedro_project, "data/06_models/search_result.pt", TorchCheckpointDataset)
    assert {"alpha", "beta", "widths", "identity", "history"} <= set(result)
    assert not {"supernet", "weight_optimizer", "arch_optimizer"} & set(result)
    assert Path(result["checkpoint"]) == resume[0]
    size = latest_version(kedro_project, "data/06_models/search_result.pt").stat().st_size
    assert size < resume[0].stat().st_size / 20

    # the searched architecture goes on to retraining from scratch
    train = {
        "input_size": 32,
        "epochs": 1,
        "batch_size": 8,
        "warmup_epochs": 0,
        "checkpoint_dir": str(kedro_project / "t"),
    }
    run_pipeline("train", params={**TINY, "train": train})
    trained = load_latest(kedro_project, "data/06_models/trained_architecture.json", ArchitectureDataset)
    assert trained.blocks == arch.blocks and trained.num_classes == 4
    metrics = json.loads(latest_version(kedro_project, "data/07_model_output/training_metrics.json").read_text())
    assert metrics["table_ms"] == pytest.approx(summary["table_ms"]) and metrics["onnx"]["checker"] == "passed"

    # the report picks up everything that ran, and says what did not
    run_pipeline("report", params=TINY)
    page = latest_version(kedro_project, "data/08_reporting/report.html").read_text()
    assert "Not available: no transfer run (kedro run --pipelines transfer)" in page
    assert "the supernet has not learned yet" in page  # said plainly, as in the log
    assert "Not available: no search-quality study (kedro run --pipelines study_search_quality)" in page
    assert page.count("Not available") == 2 and summary["name"] in page and "TF-NAS-D" in page
    assert page.count("<div id=") >= 6  # search latency, probabilities, architecture, fidelity, accuracy, training
    table = pd.read_parquet(latest_version(kedro_project, "data/08_reporting/report_summary.parquet"))
    assert table.loc[0, "table_ms"] == pytest.approx(summary["table_ms"]) and table.loc[0, "top1"] == metrics["top1"]
    reference = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/reference_models.parquet"))
    assert set(reference["name"]) == {"MobileNetV2", "MobileNetV3-Large", "EfficientNet-B0", "MNASNet-1.0"}
    assert (reference["measured_ms"] > 0).all() and reference["top1_percent"].between(70, 80).all()


@pytest.mark.slow
@pytest.mark.timing
def test_a_search_on_an_onnxruntime_table_is_timed_in_onnxruntime_against_the_tables_bound(kedro_project, run_pipeline):
    """At the demo's scale (input 64, channel block 4): the derived network is exported to ONNX,
    timed in onnxruntime among the table's held-out models in a fresh process, and its error,
    with the session's drift divided out, lies within the bound the table stored when it was
    checked, up to the order statistic that bound is: it is the largest error of four held-out
    networks (or the session's spread), so a fifth network exceeds it about once in five draws
    with nothing wrong (-6.7% against 6.5% in 1 of 4 runs here), and the summary says so
    (``within_fidelity_bound``). The test holds the error to three times that bound: a table timed in
    another runtime, or a network timed out of its session, misses by tens of percent.
    docs/search.md: -3.4% to +2.8% against bounds of 4.7-7.6% in 8 of 8 tries with 48
    calibration networks and 15 rounds; with the 32 and 10 used here (15 s less), -5.9% to
    -0.9% against 8.6-9.5% in 3 of 3. Timed with cold caches, as small inputs want
    (docs/latency.md). Reliable on a busy machine because the error is relative to the published
    models timed in the same session (the drift divided out), and the bound includes the
    session's own spread."""
    latency = {
        **TINY_LATENCY["latency"],
        **COLD_CACHES,
        "spaces": ["tfnas"],
        "runtime": "onnxruntime",  # and the channel block it wants, 4, unset
        "channel_block": None,
        "resolution": 64,
        "num_classes": 4,
        "calibration_networks": 32,
        "network_rounds": 10,
        "fidelity_models": ["TF-NAS-A", "TF-NAS-B", "TF-NAS-C", "TF-NAS-D"],
    }
    # in the paper's space: the searched network is held to the bound its published models set
    params = {**TINY_DATA, "latency": latency, "search": {**TINY["search"], "search_space": "tfnas", "input_size": 64}}
    run_pipeline("data_selection", params=params)
    run_pipeline("latency", params=params)
    run_pipeline(
        "search", params={**params, "search": {**params["search"], "checkpoint_dir": str(kedro_project / "c")}}
    )
    table = load_latest(kedro_project, "data/05_model_input/latency_table.parquet", LatencyTableDataset)
    assert table.meta.runtime.name == "onnxruntime" and table.meta.channel_block == 4
    check, fitted = table.meta.calibration.held_out, table.meta.calibration.max_abs_residual_fitted
    assert check.models == 4 and table.fidelity_bound == max(check.max_abs_error, check.noise_floor, fitted)
    summary = json.loads(latest_version(kedro_project, "data/07_model_output/search_summary.json").read_text())
    assert summary["timed_in"] == "onnxruntime" and summary["session_fidelity"]["models"] == 4
    assert summary["fidelity_bound"] == pytest.approx(table.fidelity_bound)
    session = summary["session_fidelity"]
    assert session["relative_error"] == pytest.approx(
        summary["table_ms"] * session["session_drift"] / summary["measured_ms"] - 1.0
    )
    assert table.fidelity_bound <= summary["session_bound"]  # the table's, or the anchors' spread in the session
    assert summary["within_fidelity_bound"] == (abs(session["relative_error"]) <= summary["session_bound"])
    error, bound = session["relative_error"], summary["session_bound"]
    # three times the bound: a new network exceeds the largest error of the table's few held-out ones
    # about once in five with nothing wrong (-6.7% against 6.5% alone; -7.6% against a 3.3% bound in a
    # quiet CI run of 2026-12-06); a table timed in another runtime misses by tens of percent
    assert abs(error) <= 3 * bound, f"{error:+.1%} outside three times the bound {bound:.1%}"


def test_namespaced_targets_each_get_their_own_outputs(kedro_project, run_pipeline, run_upstream):
    _prepare(run_upstream)
    params = {
        **TINY,
        "search": {
            **TINY["search"],
            "epochs": 3,  # one warm-up, then the latency term and elasticity-scaling steer
            "warmup_epochs": 1,
            "measure_latency": False,
            "checkpoint_dir": str(kedro_project / "ckpt"),
        },
    }
    # targets well inside the range: near its top, the small space's few layers leave the fit to
    # whole-op changes (measured: 9.6% below 0.9 of the range once in a fresh clone; at 0.8, 14.2%
    # below after a depth and several op changes, on a table timed while the machine was busy)
    targets = {"fast": {"fraction": 0.2}, "balanced": {"fraction": 0.5}, "accurate": {"fraction": 0.7}}
    only_targets(kedro_project, targets)
    run_pipeline("search_targets", params=params)
    table_ms = {}
    written = sorted(p.parent.name for p in (kedro_project / "data/07_model_output").glob("*/search_summary.json"))
    assert written == sorted(targets)  # one search per target given, and no other
    for name in targets:
        summary = json.loads(
            latest_version(kedro_project, f"data/07_model_output/{name}/search_summary.json").read_text()
        )
        changes = summary["fallback_changes"]
        # never above the target; within 1% below it, or, where the depth and op changes found nothing
        # closer, the closest result below it, said so (fit_to_target's contract). How far below that
        # can land on a measured table after a 3-epoch search (1.1%, 14.2% and 31.8% in runs of
        # 2026-12-06) is a known weakness of the fallback (docs/search.md), not what this test checks
        closest = bool(changes) and changes[-1].startswith("kept the closest result below the target")
        assert summary["target_met"] and (summary["gap"] < 0.01 or closest), (name, changes, summary["gap"])
        table_ms[name] = summary["table_ms"]
    assert table_ms["fast"] < table_ms["balanced"] < table_ms["accurate"]


def _search_inputs() -> dict:
    """A table of the small space and an empty split: the target is resolved before any image is read."""
    table = synthetic_table(load_search_spaces(SMALL_SPACE_FILE)["small"], resolution=32, num_classes=4, step=8)
    return {"latency_table": table, "search_split": pd.DataFrame(columns=["path", "label", "split"])}


def test_unreachable_target_names_the_range():
    with pytest.raises(SearchError, match=r"target 0.001 ms is outside the reachable range .* of space 'small'"):
        run_in_memory("search", _search_inputs(), {**TINY, "target": {"latency_ms": 0.001}})


def test_table_for_another_resolution_is_refused():
    with pytest.raises(Exception, match="latency table measured at resolution 32, but 64 is configured"):
        run_in_memory("search", _search_inputs(), {**TINY, "search": {**TINY["search"], "input_size": 64}})


def test_a_warm_start_that_does_not_fit_the_space_stops_before_any_step_naming_the_stage():
    """EfficientNet-Lite0's first stage has 24 channels, the small space's 16. The split's images
    do not exist: the mismatch stops the search before any is read."""
    params = {**TINY, "search": {**TINY["search"], "init": "efficientnet_lite0"}}
    split = pd.DataFrame({"path": "missing.png", "label": list("abcd"), "split": "weights", "class_index": range(4)})
    with pytest.raises(WarmStartError, match=r"stage 0 \(out, stride, depth\) is \(24, 2, 2\) in efficientnet_lite0"):
        run_in_memory("search", {**_search_inputs(), "search_split": split}, params)


def test_an_init_that_is_neither_a_known_network_nor_a_file_names_the_choices():
    params = {**TINY, "search": {**TINY["search"], "init": "imagenet_weights.pt"}}
    with pytest.raises(ValueError, match=r"search.init: 'imagenet_weights.pt' is neither scratch, efficientnet_lite0"):
        run_in_memory("search", _search_inputs(), params)
