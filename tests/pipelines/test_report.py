import json

import pandas as pd
import pytest

from .conftest import latest_version
from .test_search import TINY, _prepare


def test_report_on_a_fresh_project_leaves_every_missing_section_out_with_a_note(kedro_project, run_pipeline):
    run_pipeline("report")
    page = latest_version(kedro_project, "data/08_reporting/report.html").read_text()
    for hint in ("kedro run --pipelines search", "kedro run --pipelines latency", "kedro run --pipelines train",
                 "kedro run --pipelines transfer"):  # fmt: skip
        assert "Not available: no" in page and hint in page
    assert "<script type='text/javascript'>" in page  # plotly.js inlined: opens without a network
    # the paper's points are always there; nothing was measured without a latency table
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/report/accuracy_vs_latency.json").read_text())
    assert any("published by the paper" in trace["name"] for trace in figure["data"])
    assert pd.read_parquet(latest_version(kedro_project, "data/07_model_output/reference_models.parquet")).empty
    placeholder = json.loads(latest_version(kedro_project, "data/08_reporting/report/transfer.json").read_text())
    assert "not available" in placeholder["layout"]["title"]["text"]


def test_sampling_study_runs_every_setting_and_summarises_over_seeds(kedro_project, run_pipeline, run_upstream):
    _prepare(run_upstream)
    runs = {
        "bisampling_seed0": {"bisampling": True, "seed": 0},
        "bisampling_seed1": {"bisampling": True, "seed": 1},
        "single_path_seed0": {"bisampling": False, "seed": 0},
        "single_path_seed1": {"bisampling": False, "seed": 1},
    }
    study = {"title": "sampling", "base": {"epochs": 1, "warmup_epochs": 0, "measure_latency": False}, "runs": runs}
    run_pipeline("study_sampling", params={**TINY, "studies": {"sampling": study}})
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/study_sampling.parquet"))
    assert sorted(table["run"]) == sorted(runs) and (table["epochs"] == 1).all()
    assert set(table["setting"]) == {"bisampling=True", "bisampling=False"}
    # the derived architectures meet the target. How close they land is the search tests' to check
    # (within 1%): these one-epoch searches without warm-up reach it through the derivation's
    # fallbacks, which depend on the table timed in the test, and once landed 33% below (2 of 4
    # runs in one CI run, 2026-12-06; 1 of 5 here at the time, 0 of 5 at the commit before)
    assert table["target_met"].all() and (table["gap_percent"] >= 0).all()
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/study_sampling.json").read_text())
    names = [trace["name"] for trace in figure["data"]]
    assert "bisampling=True (min-max over 2 seeds)" in names and "bisampling=False (mean over 2 seeds)" in names
    # every run is read against its setting's mean and spread over the seeds
    for _, rows in table.groupby("setting"):
        assert (rows["seeds"] == 2).all()
        assert rows["final_val_top1_mean"].iloc[0] == pytest.approx(rows["final_val_top1"].mean())
        assert rows["final_val_top1_std"].iloc[0] == pytest.approx(rows["final_val_top1"].std())
    # each run searched with its own settings, in its own checkpoint folder
    outputs = kedro_project / "data/07_model_output"
    histories = [pd.read_parquet(latest_version(outputs, f"study_sampling.{r}/search_history.parquet")) for r in runs]
    assert all(len(h) == 1 for h in histories)
    # the default, relative checkpoint_dir is taken from the project's folder, as the catalog's paths
    # are, not from the working directory of the process
    folders = kedro_project / "data/06_models/search_checkpoints"
    assert sorted(p.parent.parent.name for p in folders.glob("*/*/last.pt")) == sorted(runs)


def test_accuracy_vs_latency_keeps_what_is_measured_here_apart_from_each_published_hardware():
    from tfnas_kedro.reporting import accuracy_vs_latency

    points = pd.DataFrame(
        [
            ("mobilenet_v3_large", "torchvision, measured here", "here", 9.0, 75.2),
            ("TF-NAS-C", "TF-NAS published models, measured here", "here", 10.0, 75.2),
            ("searched-10.00ms", "searched + retrained here (this run's data)", "here", 9.9, 41.0),
            ("DARTS", "published by the paper (gpu_titan_rtx_bs32)", "gpu_titan_rtx_bs32", 17.5, 73.3),
            ("TF-NAS-A", "published by the paper (gpu_titan_rtx_bs32)", "gpu_titan_rtx_bs32", 18.0, 76.9),
            ("TF-NAS-CPU-A", "published by the paper (cpu)", "cpu_xeon_gold_6130_bs1_1thread", 80.0, 75.8),
        ],
        columns=["name", "group", "panel", "latency_ms", "top1_percent"],
    )
    figure = accuracy_vs_latency(points, "Xeon (cpu, onnxruntime), batch 1, input 224")
    titles = [a.text for a in figure.layout.annotations]
    assert titles == [
        "Measured here: Xeon (cpu, onnxruntime), batch 1, input 224",
        "Published by the paper: GPU: Titan RTX, batch 32",
        "Published by the paper: CPU: Xeon Gold 6130, batch 1, 1 thread",
    ]
    axes = {trace.name: trace.xaxis for trace in figure.data}
    assert {axes[g] for g in points[points["panel"] == "here"]["group"]} == {"x"}  # one panel, shared axes
    assert axes["published by the paper (gpu_titan_rtx_bs32)"] == "x2" and axes["published by the paper (cpu)"] == "x3"
    labels = {name for trace in figure.data for name in trace.text if name}
    assert labels == {"TF-NAS-C", "searched-10.00ms", "TF-NAS-A", "TF-NAS-CPU-A"}  # the rest: hover text only
    assert {name for trace in figure.data for name in trace.hovertext} == set(points["name"])


def test_with_every_artifact_each_saved_figure_comes_from_its_section():
    """The node saves the figures its sections name: with every artifact there, no placeholder."""
    from tests.conftest import PROJECT_ROOT
    from tfnas_kedro.artifacts import SearchSummary, TrainingMetrics
    from tfnas_kedro.nas import zoo_arch
    from tfnas_kedro.nas.search import learning_status
    from tfnas_kedro.nas.table_meta import Calibration, FidelitySummary, NoiseFloor
    from tfnas_kedro.pipelines.report.nodes import FIGURES, build_report

    status = learning_status([{"weight_loss": 1.3, "val_top1": 0.3}, {"weight_loss": 1.3, "val_top1": 0.3}], 4)
    summary = SearchSummary(
        name="searched", target_ms=10.0, table_ms=9.9, measured_ms=10.5, gap=0.01, target_met=True, macs_m=300,
        params_m=5, blocks=12, device="cpu", device_name="cpu0", reachable_ms=(5.0, 20.0), epochs=2, supernet=status,
    )  # fmt: skip
    history = pd.DataFrame(
        [
            (0, None, 10.3, [[0.5, 0.5]], [[0.4, 0.6]], 1.4, False),
            (1, 10.1, 9.9, [[0.8, 0.2]], [[0.1, 0.9]], 1.3, True),
        ],
        columns=["epoch", "expected_ms", "derived_ms", "alpha", "beta", "weight_loss", "scaled"],
    )
    fidelity = pd.DataFrame({"name": ["TF-NAS-D"], "predicted_ms": [9.0], "measured_ms": [9.5]})
    fidelity_summary = FidelitySummary(
        device_name="cpu0", device="cpu", batch_size=1, threads=1, resolution=32, runtime="torch", models=1,
        median_abs_error=0.05, max_abs_error=0.05, uncalibrated_median_error=0.1, calibration=Calibration(),
        noise_floor=NoiseFloor(network="TF-NAS-D", ms=[9.5, 9.6], spread=0.02),
    )  # fmt: skip
    quality = pd.DataFrame(
        [("t", "searched", "s", "searched_seed0", 9.9, 0.5, 0.3), ("t", "random", "r", "random_0", 9.8, 0.4, 0.2),
         ("t", "zoo", "z", "zoo", 10.2, 0.45, None)],
        columns=["target", "kind", "name", "run", "table_ms", "top1", "supernet_top1"],
    ).assign(target_ms=10.0, supernet_learned=True, diverged=False, candidate=lambda t: t["run"])  # fmt: skip
    stats = pd.DataFrame([{"target": "t", "searched_top1": 0.5, "searched_low": 0.45, "searched_high": 0.55,
                           "random_top1": 0.4, "random_low": 0.35, "random_high": 0.45, "left_out": None}])  # fmt: skip
    page, table, *figures = build_report(
        summary,
        history,
        zoo_arch("TF-NAS-D"),
        {},
        fidelity,
        fidelity_summary,
        TrainingMetrics(
            name="searched",
            epochs=2,
            top1=0.5,
            top5=1.0,
            val_loss=1.0,
            params_m=5,
            macs_m=300,
            resolution=32,
            num_classes=4,
            train_seconds=1.0,
            measured_ms=10.4,
        ),
        pd.DataFrame({"epoch": [0, 1], "train_loss": [1.2, 1.0], "val_top1": [0.4, 0.5]}),
        pd.DataFrame({"model": ["searched"], "cifar10_top1_percent": [90.0]}),
        quality,
        stats,
        pd.DataFrame({"name": ["MobileNetV2"], "measured_ms": [12.0], "top1_percent": [71.9]}),
        pd.read_csv(PROJECT_ROOT / "data/01_raw/reference/published_results.csv"),
        {},
    )
    assert len(figures) == len(FIGURES) and "Not available" not in page
    titles = {name: figure.layout.title.text or "" for name, figure in zip(FIGURES, figures, strict=True)}
    assert [name for name, title in titles.items() if "not available" in title] == []
    assert page.count("<div id=") == len(FIGURES) and list(table["search"]) == ["default (search)"]
    assert "the supernet has not learned yet" in page  # a section's warning reaches the page
