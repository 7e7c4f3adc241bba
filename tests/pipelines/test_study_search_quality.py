import json
import re

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
    "random_seeds": 2,
    "recalibration_images": 16,
    "tuned_epochs": 1,
    "bootstrap_rounds": 200,
}


def _pretrained_checkpoint(path, small_space) -> str:
    """A network of the small space saved as this project saves a trained one: what
    ``search.init`` takes as a checkpoint path."""
    import torch

    from tests.nas.test_warm_start import _small_architecture
    from tfnas_kedro.nas import build_network

    arch = _small_architecture(small_space)
    torch.manual_seed(4)
    network = build_network(arch)
    identity = {"architecture": arch.model_dump(mode="json", by_alias=True)}
    torch.save({"model": network.state_dict(), "identity": identity}, path)
    return str(path)


@pytest.mark.slow
def test_searched_and_random_architectures_are_retrained_alike_and_compared_with_intervals(
    kedro_project, run_pipeline, run_upstream, small_space
):
    """Warm-started from a network of the small space, every searched and random candidate
    retrained from its path in the supernet (``train.init: inherit``), the published one from scratch."""
    _prepare(run_upstream)
    init = _pretrained_checkpoint(kedro_project / "pretrained.pt", small_space)
    train = {**STUDY["train"], "checkpoint_dir": str(kedro_project), "init": "inherit"}
    params = {
        **TINY,
        "search": {**TINY["search"], "checkpoint_dir": str(kedro_project / "ckpt")},
        "studies": {"search_quality": {**STUDY, "search": {**STUDY["search"], "init": init}, "train": train}},
    }
    run_pipeline("study_search_quality", params=params)
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/study_search_quality.parquet"))
    assert list(table["target"].unique()) == ["low", "high"]
    assert (table["search_init"] == init).all()  # the table says how the study started
    assert (table.loc[table["kind"] != "zoo", "train_init"] == "inherit").all()  # both arms alike
    assert (table.loc[table["kind"] == "zoo", "train_init"] == "scratch").all()
    for _, rows in table.groupby("target"):
        # the searched architecture and each random one once per seed, the published model once
        assert rows["run"].tolist() == [
            "searched_seed0", "searched_seed1", "random_0_seed0", "random_0_seed1", "random_1_seed0", "random_1_seed1",
            "zoo",
        ]  # fmt: skip
        offsets = rows.loc[rows["kind"] == "random"].groupby("candidate")["seed_offset"].apply(list)
        assert offsets.tolist() == [[0, 1]] * 2
        assert rows.loc[rows["kind"] == "searched", "name"].nunique() == 1
        searched_ms = rows.loc[rows["kind"] == "searched", "table_ms"].iloc[0]
        random_ms = rows.loc[rows["kind"] == "random", "table_ms"]
        assert ((random_ms <= searched_ms) & (random_ms >= 0.99 * searched_ms)).all()  # the same table latency
        assert ((rows["top1_low"] <= rows["top1"]) & (rows["top1"] <= rows["top1_high"])).all()
        # scored through the supernet: every path of it (searched, random), not the published model
        assert rows.loc[rows["kind"] != "zoo", "supernet_top1"].between(0, 1).all()
        assert rows.loc[rows["kind"] == "zoo", "supernet_top1"].isna().all()
        # and again after fine-tuning each path for tuned_epochs
        assert rows.loc[rows["kind"] != "zoo", "supernet_tuned_top1"].between(0, 1).all()
    # the test split, scored once after training, is what top-1 means here
    metrics = "data/07_model_output/search_quality.low.random_0_seed0/test_metrics.json"
    test = json.loads(latest_version(kedro_project, metrics).read_text())
    assert test["images"] == len(test["correct_per_image"]) > 0 and test["top1"] == pytest.approx(
        sum(test["correct_per_image"]) / test["images"]
    )
    stats = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/study_search_quality_stats.parquet"))
    assert stats["target"].tolist() == ["low", "high"]
    for row in stats.to_dict("records"):
        if row["searched_runs"] and row["random_runs"]:
            assert row["difference_low"] <= row["difference"] <= row["difference_high"]
            assert row["verdict"] in ("searched better", "random better", "no difference shown")
            # what "no difference shown" could have missed: at least the half-width (both 0 when the arms answer alike)
            assert row["min_detectable_difference"] >= (row["difference_high"] - row["difference_low"]) / 2
        if row["tau_candidates"] >= 3 and not pd.isna(row["kendall_tau"]):  # a ranking after fine-tuning too
            assert pd.isna(row["tuned_kendall_tau"]) or -1 <= row["tuned_kendall_tau"] <= 1
        if row["tau_candidates"] >= 3:  # the agreement two retrainings could reach, from the searched seeds' spread
            # (none when fewer than two searched seeds kept: a diverged seed is left out)
            # (undefined, as tau itself, when every candidate scored the same and seeds agreed exactly)
            ceiling_undefined = pd.isna(row["tau_noise_ceiling"]) and pd.isna(row["kendall_tau"])
            assert pd.isna(row["seed_sd"]) or (
                row["seed_sd"] >= 0 and (ceiling_undefined or -1 <= row["tau_noise_ceiling"] <= 1)
            )
        # two seeds of every candidate (3 here) compared directly: undefined only where one seed's top-1 all tie
        assert pd.isna(row["seed_pair_tau"]) or -1 <= row["seed_pair_tau"] <= 1
        listed = row["left_out"] if isinstance(row["left_out"], str) else ""  # None, or NaN from parquet
        left_out = set(re.findall(r"(searched_seed\d+|random_\d+_seed\d+|zoo) \(", listed))  # "run (reason), ..."
        # tau ranks candidates, not runs: a candidate counts while any of its seeds is kept
        searched = any(f"searched_seed{s}" not in left_out for s in range(STUDY["searched_seeds"]))
        randoms = sum(
            any(f"random_{i}_seed{s}" not in left_out for s in range(STUDY["random_seeds"]))
            for i in range(STUDY["random_architectures"])
        )
        assert row["tau_candidates"] == searched + randoms
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/study_search_quality.json").read_text())
    assert {"searched (each run)", "random (each run)", "zoo"} <= {trace["name"] for trace in figure["data"]}

    run_pipeline("report", params=TINY)
    page = latest_version(kedro_project, "data/08_reporting/report.html").read_text()
    assert "Searched vs random at equal latency" in page and "difference_high" in page and "kendall_tau" in page
