import json

import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession

from tfnas_kedro.datasets import TorchCheckpointDataset
from tfnas_kedro.nas import build_network, zoo_arch
from tfnas_kedro.training import TrainConfig, Trainer, TrainingError

from .conftest import latest_version

TINY = {
    "transfer": {"input_size": 32, "epochs": 1, "batch_size": 16, "train_limit": 64, "log_every": 2},
    "demo_cifar": {"train_per_class": {"cifar10": 8, "cifar100": 1}, "test_per_class": {"cifar10": 2, "cifar100": 1}},
}


def _params(root, **extra):
    return {**TINY, "transfer": {**TINY["transfer"], "checkpoint_dir": str(root / "ckpt")}, **extra}


def _save_trained_model(root):
    """An (untrained) training checkpoint of TF-NAS-D in the catalog, where the train pipeline puts its own."""
    arch = zoo_arch("TF-NAS-D", num_classes=4, resolution=32)
    identity = {"architecture": arch.model_dump(mode="json", by_alias=True)}
    trainer = Trainer(
        build_network(arch),
        TrainConfig(epochs=1, batch_size=4, warmup_epochs=0),
        torch.device("cpu"),
        identity=identity,
    )
    with KedroSession.create(project_path=root) as session:
        session.load_context().catalog.save("trained_model", trainer.state_dict())


def _metrics(root, name):
    return json.loads(latest_version(root, f"data/07_model_output/{name}/transfer_metrics.json").read_text())


@pytest.mark.slow
def test_transfer_fine_tunes_the_trained_model_on_both_sets(kedro_project, run_pipeline):
    _save_trained_model(kedro_project)
    run_pipeline("transfer", params=_params(kedro_project))

    for name, classes, train in (("cifar10", 10, 64), ("cifar100", 100, 64)):
        metrics = _metrics(kedro_project, f"transfer.{name}")
        assert metrics["dataset"] == name and metrics["model"] == "TF-NAS-D" and metrics["train_images"] == train
        assert 0 <= metrics["top1"] <= metrics["top5"] <= 1 and metrics["epochs"] == 1
        model = TorchCheckpointDataset(
            filepath=str(latest_version(kedro_project, f"data/06_models/transfer.{name}/finetuned_model.pt"))
        ).load()
        assert model["model"]["classifier.weight"].shape == (classes, 1280)
        # everything but the classifier started from the trained model's weights
        assert model["identity"]["architecture"]["num_classes"] == classes
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/transfer_table.parquet"))
    ours = table[table["source"].str.startswith("this run")].set_index("model")
    assert ours.loc["TF-NAS-D", "cifar10_top1_percent"] == pytest.approx(
        100 * _metrics(kedro_project, "transfer.cifar10")["top1"]
    )
    assert "published (paper, ImageNet-trained)" in set(table["source"])
    assert json.loads(latest_version(kedro_project, "data/08_reporting/transfer_table.json").read_text())["data"]


@pytest.mark.slow
def test_transfer_zoo_reads_weights_from_a_path_and_refuses_another_architecture(kedro_project, run_pipeline):
    weights = kedro_project / "tfnas_d.pt"
    torch.save(build_network(zoo_arch("TF-NAS-D", num_classes=7)).state_dict(), weights)
    params = _params(kedro_project, transfer_zoo={"model": "TF-NAS-D"}, zoo_weights=str(weights))
    params["transfer_sets"] = {
        "cifar10": {"dataset": "cifar10"},
        "cifar100": {"dataset": "cifar100", "train_limit": 16},
    }
    run_pipeline("transfer_zoo", params=params)
    assert _metrics(kedro_project, "zoo.cifar10")["model"] == "TF-NAS-D"
    assert _metrics(kedro_project, "zoo.cifar100")["train_images"] == 16  # a per-set override

    with pytest.raises(TrainingError, match="zoo_weights do not fit TF-NAS-A: .* another architecture"):
        run_pipeline("transfer_zoo", params={**params, "transfer_zoo": {"model": "TF-NAS-A"}})


def test_missing_cifar_root_with_downloads_off_stops_with_the_flag_named(kedro_project, run_pipeline):
    _save_trained_model(kedro_project)
    missing = kedro_project / "no_cifar_here"
    params = _params(kedro_project, cifar_root=str(missing))
    params["transfer"]["data"] = "real"
    with pytest.raises(FileNotFoundError, match=f"{missing}/cifar-10-batches-py .* cifar_download=true"):
        run_pipeline("transfer", params=params)
