"""The trained network as the ExecuTorch program that ships, and the latency check that times it."""

from pathlib import Path

import pytest
import torch

from tfnas_kedro.artifacts import TrainingMetrics
from tfnas_kedro.nas import build_network
from tfnas_kedro.nas.calibration import measure_networks
from tfnas_kedro.nas.executorch_programs import ProgramCache
from tfnas_kedro.nas.profiler import reference_workload
from tfnas_kedro.params import LatencyParams
from tfnas_kedro.pipelines.train.nodes import export_executorch_program
from tfnas_kedro.reporting.tables import fidelity_rows

from .conftest import tiny_arch


@pytest.mark.slow
def test_the_shipped_program_matches_pytorch_and_is_the_file_the_latency_check_times(tmp_path):
    arch = tiny_arch(resolution=32)
    torch.manual_seed(0)
    network = build_network(arch)
    identity = {"architecture": arch.model_dump(mode="json", by_alias=True)}
    checkpoint = {"model": network.state_dict(), "identity": identity}
    programs = tmp_path / "programs"
    latency = {"runtime": "executorch", "program_cache": str(programs), "resolution": 32, "num_classes": 4,
               "network_rounds": 2, "fresh_process": False}  # fmt: skip
    data, report = export_executorch_program(checkpoint, {}, latency)
    assert report["max_abs_diff"] < 1e-4 and report["bytes"] == len(data) and report["batch"] == 1
    assert b"XnnpackBackend" in data and Path(report["cached_as"]).read_bytes() == data
    before = set(programs.iterdir())
    timing = measure_networks([arch], LatencyParams(**latency).network_settings())[0]
    reference, shape = reference_workload()
    lowered_now = set(programs.iterdir()) - before
    # only the harness's reference was lowered: the network's timing loaded the exported file
    assert lowered_now <= {ProgramCache(programs).path(reference, (1, *shape))} and timing.ms > 0
    metrics = TrainingMetrics(
        name=arch.name, epochs=1, top1=0.5, top5=1.0, val_loss=1.0, params_m=0.1, macs_m=1.0, resolution=32,
        num_classes=4, train_seconds=1.0, executorch=report, table_ms=1.1, measured_ms=timing.ms,
    )  # fmt: skip
    rows = fidelity_rows(None, None, None, metrics)
    assert rows["kind"].tolist() == ["shipped program"] and rows["measured_ms"].iloc[0] == timing.ms


def test_the_train_pipeline_ships_a_program_only_where_the_table_is_executorchs():
    from kedro.framework.project import configure_project

    from tfnas_kedro.pipeline_registry import project_parameters, register_pipelines

    configure_project("tfnas_kedro")  # as a session of the project does
    parameters = project_parameters(conf_source=Path(__file__).parents[2] / "conf")
    for runtime, shipped in (("torch", False), ("executorch", True)):
        train = register_pipelines({**parameters, "latency": {**parameters["latency"], "runtime": runtime}})["train"]
        assert ("trained_model_pte" in train.all_outputs()) == shipped
        summary = next(n for n in train.nodes if n.name == "summarise_training")
        assert ("executorch_export_check" in summary.inputs) == shipped  # its check reaches training_metrics
