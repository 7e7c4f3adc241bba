"""The Dask runner gives what the sequential runner gives: the same architectures, byte for byte,
and the same metrics, on the small space (2 workers, one thread each, as the suite's processes)."""

import json
import re
import shutil

import pandas as pd
import pytest
import torch

from tfnas_kedro.dask_runner import DaskRunner

from .conftest import _new_project, _run, latest_version, only_targets
from .test_search import TINY, _prepare
from .test_study_search_quality import STUDY

pytestmark = pytest.mark.slow

TIMES = ("seconds", "duration", "created", "elapsed", "_s")  # keys of wall-clock figures, which differ by run


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if not any(t in k for t in TIMES)}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _twin(kedro_project, tmp_path):
    """A second project with the same configuration and upstream data (the same measured table)."""
    twin = _new_project(tmp_path / "twin")
    shutil.copytree(kedro_project / "data", twin / "data", dirs_exist_ok=True)
    return twin


def test_search_targets_and_the_quality_study_give_the_same_results_on_two_dask_workers(
    kedro_project, run_upstream, tmp_path, caplog
):
    _prepare(run_upstream)
    twin = _twin(kedro_project, tmp_path)
    search = {**TINY["search"], "epochs": 2, "warmup_epochs": 1, "measure_latency": False}
    # the demo's warm start is EfficientNet-Lite0's channel plan, not the small space's
    study = {
        **STUDY,
        "targets": {"low": {"fraction": 0.3}},
        "search": {**STUDY["search"], "init": "scratch"},
        "searched_seeds": 1,  # the smallest study: what differs between runners shows in any run
        "random_seeds": 1,
        "tuned_epochs": 0,
    }

    for project in (kedro_project, twin):
        only_targets(project, {"fast": {"fraction": 0.3}, "slow": {"fraction": 0.6}})

    def params(project):
        return {
            **TINY,
            "search": {**search, "checkpoint_dir": str(project / "ckpt")},
            "studies": {"search_quality": {**study, "train": {**study["train"], "checkpoint_dir": str(project / "t")}}},
        }

    pipelines = ["search_targets", "study_search_quality"]  # one run each way: one cluster to start
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker (threads_per_worker 1): thread counts change float sums
    try:
        _run(kedro_project, pipelines, params(kedro_project))
        start = len(caplog.records)
        _run(twin, pipelines, params(twin), runner=DaskRunner(workers=2, dashboard=None))
    finally:
        torch.set_num_threads(threads)
    # every node's hooks ran in this process, as with the sequential runner (MLflow's too)
    done = [re.match(r"\[(\d+)/(\d+)\] ", r.getMessage()) for r in caplog.records[start:]]
    done = [m for m, r in zip(done, caplog.records[start:], strict=True) if m and "done in" in r.getMessage()]
    assert done and len(done) == int(done[0][2])

    # the two targets' searches ran at once, and the log said so
    messages = [r.getMessage() for r in caplog.records]
    running = [m for m in messages if m.startswith("Dask: running ")]
    assert any("fast." in m and "slow." in m for m in running), running
    for target in ("fast", "slow"):
        files = {}
        for project in (kedro_project, twin):
            summary = latest_version(project, f"data/07_model_output/{target}/search_summary.json")
            files[project] = (
                latest_version(project, f"data/06_models/{target}/searched_architecture.json").read_bytes(),
                _without_times(json.loads(summary.read_text())),
            )
        assert files[kedro_project] == files[twin], target  # the architecture byte for byte, the summary equal
    tables = [
        pd.read_parquet(latest_version(p, "data/07_model_output/study_search_quality.parquet"))
        for p in (kedro_project, twin)
    ]
    columns = ["candidate", "run", "name", "table_ms", "top1", "val_top1", "supernet_top1", "diverged"]
    pd.testing.assert_frame_equal(tables[0][columns], tables[1][columns])
