import json

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from tfnas_kedro.data.loaders import training_rows
from tfnas_kedro.datasets import ArchitectureDataset, OnnxModelDataset, TorchCheckpointDataset
from tfnas_kedro.nas.errors import ConfigError
from tfnas_kedro.training import load_trained_network

from .conftest import latest_version, load_latest
from .test_search import TINY as TINY_SEARCH

TINY = {
    **TINY_SEARCH,
    "train": {"input_size": 32, "epochs": 2, "batch_size": 8, "warmup_epochs": 0, "lr": 0.05, "log_every": 1},
    "train_zoo": {"model": "TF-NAS-D"},
}


def _params(root, **train):
    return {**TINY, "train": {**TINY["train"], "checkpoint_dir": str(root / "ckpt"), **train}}


@pytest.mark.slow
def test_train_zoo_trains_exports_and_resumes(kedro_project, run_pipeline, run_upstream):
    run_upstream(("data_selection", "latency"), TINY_SEARCH)
    run_pipeline("train_zoo", params=_params(kedro_project))

    metrics = json.loads(latest_version(kedro_project, "data/07_model_output/zoo/training_metrics.json").read_text())
    assert metrics["name"] == "TF-NAS-D" and metrics["epochs"] == 2 and metrics["num_classes"] == 4
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1 and metrics["table_ms"] > 0 and metrics["measured_ms"] > 0
    assert metrics["onnx"]["checker"] == "passed" and metrics["onnx"]["onnxruntime_max_abs_diff"] < 1e-3
    assert isinstance(metrics["diverged"], bool) and (metrics["divergence"] is None) != metrics["diverged"]

    checkpoint = load_latest(kedro_project, "data/06_models/zoo/trained_model.pt", TorchCheckpointDataset)
    arch = load_latest(kedro_project, "data/06_models/zoo/trained_architecture.json", ArchitectureDataset)
    assert arch.resolution == 32 and arch.num_classes == 4
    network = load_trained_network(checkpoint, arch)
    # weights for inference and fine-tuning; the optimiser state stays with the resume checkpoints
    assert {"model", "identity", "history"} <= set(checkpoint) and not {"optimizer", "scaler"} & set(checkpoint)
    onnx_bytes = load_latest(kedro_project, "data/06_models/zoo/trained_model.onnx", OnnxModelDataset)
    x = torch.randn(2, 3, 32, 32)
    (logits,) = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, network(x).numpy(), atol=1e-3)
    history = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/zoo/training_history.parquet"))
    assert history["epoch"].tolist() == [0, 1]
    assert json.loads(latest_version(kedro_project, "data/08_reporting/zoo/training_curves.json").read_text())["data"]

    # three epochs now: the run continues from its checkpoint after epoch 2 instead of starting again
    run_pipeline("train_zoo", params=_params(kedro_project, epochs=3))
    longer = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/zoo/training_history.parquet"))
    assert longer["epoch"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(longer.iloc[:2], history)


def test_bad_training_parameter_names_the_key():
    from tfnas_kedro.nas import zoo_arch
    from tfnas_kedro.pipelines.train.nodes import train_network

    empty = pd.DataFrame(columns=["split", "label", "class_index", "path"])
    with pytest.raises(ConfigError, match=r"params:train\.lr: Input should be greater than 0"):
        train_network(zoo_arch("TF-NAS-D"), empty, empty, {"lr": -1})
    with pytest.raises(ConfigError, match=r"params:train\.distributed\.nprocs: Extra inputs are not permitted"):
        train_network(zoo_arch("TF-NAS-D"), empty, empty, {"distributed": {"nprocs": 2}})


def test_retraining_never_reads_the_held_out_test_split():
    parts = {"weights": 3, "arch": 1, "val": 2, "test": 4}
    split = pd.DataFrame(
        [(name, "a", 0, f"/{name}/{i}.jpg") for name, n in parts.items() for i in range(n)],
        columns=["split", "label", "class_index", "path"],
    )
    train, val = training_rows(split, split.assign(split=split["split"].replace({"weights": "train"})), "selected")
    assert sorted(train["split"]) == ["arch", "weights", "weights", "weights"] and set(val["split"]) == {"val"}
    index = split.assign(split=split["split"].replace({"weights": "train", "arch": "train"}))
    train, val = training_rows(split, index, "all")  # every class: the data set's own test images stay out
    assert set(train["split"]) == {"train"} and set(val["split"]) == {"val"} and len(train) + len(val) == 6
