"""The shipped retraining recipe (conf/base/parameters_train.yml) on a network that diverged under
the earlier one (lr 0.05, 1 warm-up epoch, no zero-init: TF-NAS-A at 64 px reached val loss 23.1
after epoch 5 of 15, before gradient clipping and precise BatchNorm were added)."""

from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.data import Dataset

from tfnas_kedro.data.demo import generate_demo_images
from tfnas_kedro.data.loaders import eval_transform, train_transform
from tfnas_kedro.nas import zoo_arch
from tfnas_kedro.params import TrainParams
from tfnas_kedro.training import TrainingJob
from tfnas_kedro.training.distributed import run_job
from tfnas_kedro.training.divergence import divergence_reason

CONF = Path(__file__).parents[2] / "conf" / "base" / "parameters_train.yml"


class InMemoryImages(Dataset):
    def __init__(self, items, transform):
        self.items, self.transform = items, transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        image, label = self.items[i]
        return self.transform(image), label


def _demo(split: str, transform) -> InMemoryImages:
    images = generate_demo_images(num_classes=10, train_per_class=40, val_per_class=10, image_size=64, seed=0)
    classes = sorted({key.split("/")[1] for key in images})
    items = [(image, classes.index(key.split("/")[1])) for key, image in images.items() if key.startswith(split)]
    return InMemoryImages(items, transform)


@pytest.mark.slow
def test_the_deep_network_that_diverged_trains_under_the_shipped_recipe_without_the_flag():
    """The shipped lr, warm-up and zero-init over 8 epochs instead of 15 (the schedule keeps its
    shape), in channels-last memory (the same arithmetic, 1.25x faster on this CPU). Measured here
    (seeds 0 and 1, 2 threads): the shipped recipe ends at val loss 0.72 / 0.68 and top-1 0.79 /
    0.80 (0.78 and 0.70 for seed 0 on one thread: the sums in another order); the earlier one (lr
    0.05, 1 warm-up epoch, no zero-init) at 1.13 / 1.17 and 0.68 / 0.64. The val loss tells them
    apart, the top-1 of 100 images does not: going back to the earlier recipe fails the first."""
    params = TrainParams(**yaml.safe_load(CONF.read_text())["train"])
    config = params.recipe().model_copy(update={"workers": 0, "epochs": 8, "channels_last": "on"})
    arch = zoo_arch("TF-NAS-A", num_classes=10, resolution=64)  # 19 blocks, 40.6 M MACs: the study's "high"
    torch.set_num_threads(min(2, torch.get_num_threads()))
    job = TrainingJob(
        arch=arch,
        config=config,
        train_data=_demo("train/", train_transform(64)),
        val_data=_demo("val/", eval_transform(64)),
        device="cpu",
        resume=False,
        progress=False,
    )
    history = run_job(job)["history"]
    losses = [(r["train_loss"], r["val_loss"], r["val_top1"]) for r in history]
    assert len(history) == 8
    assert divergence_reason(history, num_classes=10) is None, losses
    assert history[-1]["val_loss"] < 0.95, losses
    assert history[-1]["val_top1"] >= 0.6, losses  # chance: 0.1
