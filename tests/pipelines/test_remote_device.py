"""The pipelines with `latency.device: ssh://...`: the table, the search's check, the trained
network and the report's reference models are all timed on the device (here this machine, reached
through a real sshd: tests/sshd.py), and each output says where."""

import json
import re

import pandas as pd
import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tfnas_kedro.datasets import LatencyTableDataset
from tfnas_kedro.pipelines.search.nodes import resolve_target

from .conftest import latest_version
from .test_search import TINY


@pytest.mark.slow
def test_a_search_on_a_devices_table_is_checked_trained_and_reported_on_that_device(
    kedro_project, run_pipeline, sshd, caplog
):
    options = sshd.options()
    remote = {
        "device": sshd.address,
        "runtime": "onnxruntime",
        # the whole table in one connection (each costs about 3 s here); batching has its own tests
        "remote": {"python": options.python, "workdir": options.workdir, "ssh_options": list(options.ssh_options),
                   "batch_size": 512},
    }  # fmt: skip
    params = {
        **TINY,
        "latency": {**TINY["latency"], **remote},
        "search": {**TINY["search"], "checkpoint_dir": str(kedro_project / "c")},
        "train": {"input_size": 32, "epochs": 1, "batch_size": 8, "warmup_epochs": 0,
                  "checkpoint_dir": str(kedro_project / "t")},
        "report": {"reference_models": ["MobileNetV2"]},
    }  # fmt: skip
    for pipeline in ("data_selection", "latency", "search", "train", "report"):
        run_pipeline(pipeline, params=params)

    table = LatencyTableDataset(
        filepath=str(latest_version(kedro_project, "data/05_model_input/latency_table.parquet"))
    ).load()
    assert table.meta.device == sshd.address and table.meta.remote_device.cpu_model == table.meta.device_name
    assert table.meta.calibration.networks == 3 and table.meta.calibration.held_out.models == 1
    assert list((kedro_project / "data/04_feature/remote_timings").glob("*.jsonl"))  # kept for a resume
    # the device's batch size is the table's group: one connection for all its widths
    assert any(re.fullmatch(r"latency table: batch 1 of 1, (\d+)/\1 widths .*", r.getMessage()) for r in caplog.records)
    search = json.loads(latest_version(kedro_project, "data/07_model_output/search_summary.json").read_text())
    assert search["timed_on"] == sshd.address and search["timed_in"] == "onnxruntime" and search["measured_ms"] > 0
    trained = json.loads(latest_version(kedro_project, "data/07_model_output/training_metrics.json").read_text())
    assert trained["timed_on"] == sshd.address and trained["measured_ms"] > 0
    reference = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/reference_models.parquet"))
    assert reference["device"].tolist() == [sshd.address] and (reference["measured_ms"] > 0).all()

    # the same table, with this machine configured as the target: refused, naming both
    search_spaces = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_search_spaces.yml").read_text())
    search, target = {"input_size": 32}, {"fraction": 0.5}
    with pytest.raises(ValueError, match=rf"measured on '{sshd.address}' .*but the target device is 'cpu'"):
        resolve_target(table, search, target, {"runtime": "onnxruntime", "device": "cpu"}, search_spaces)

    # the device's settings removed from the run, as a user who deletes conf/local after the
    # build: train and the report stop, naming both devices, rather than time the network here
    # against the device's table and call the gap drift; and before training, or the hours of the
    # build and the training would be lost: train stops before its first epoch (no new checkpoint)
    defaults = {**params, "latency": TINY["latency"]}
    trained = sorted((kedro_project / "data/06_models/trained_model.pt").iterdir())
    checkpoints = {p: p.stat().st_mtime_ns for p in (kedro_project / "t").rglob("*") if p.is_file()}
    for pipeline in ("train", "report"):
        with pytest.raises(ValueError, match=rf"measured on '{sshd.address}' .*but the target device is 'cpu'"):
            run_pipeline(pipeline, params=defaults)
    assert sorted((kedro_project / "data/06_models/trained_model.pt").iterdir()) == trained
    assert {p: p.stat().st_mtime_ns for p in (kedro_project / "t").rglob("*") if p.is_file()} == checkpoints
