import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from tfnas_kedro.nas import ArchDescription
from tfnas_kedro.training import TrainConfig


def tiny_arch(num_classes: int = 4, resolution: int = 16) -> ArchDescription:
    return ArchDescription.model_validate(
        {
            "name": "tiny",
            "resolution": resolution,
            "stem": {"out": 8, "kernel": 3, "stride": 2, "act": "relu"},
            "blocks": [
                {"kernel": 3, "in": 8, "mid": 8, "se": 0, "out": 8, "stride": 1, "act": "relu"},
                {"kernel": 3, "in": 8, "mid": 16, "se": 4, "out": 16, "stride": 2, "act": "swish"},
                {"kernel": 5, "in": 16, "mid": 32, "se": 0, "out": 16, "stride": 1, "act": "swish"},
            ],
            "head": {"out": 32, "act": "swish"},
            "num_classes": num_classes,
            "dropout": 0.0,
        }
    )


def colour_data(n: int, num_classes: int = 4, size: int = 16, seed: int = 0) -> TensorDataset:
    """Images whose class is the channel that is brightest, under noise: learnable in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    x = torch.randn(n, 3, size, size, generator=g) * 0.5
    for c in range(3):
        x[:, c] += (y == c).float()[:, None, None] * 1.5
    x[y == 3] -= 1.0  # the fourth class: dark everywhere
    return TensorDataset(x, y)


class CrashAfter(Dataset):
    """Raises after ``limit`` items have been read: a process killed in the middle of an epoch."""

    def __init__(self, data: Dataset, limit: int):
        self.data, self.limit, self.reads = data, limit, 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        self.reads += 1
        if self.reads > self.limit:
            raise KeyboardInterrupt("simulated crash")
        return self.data[i]


@pytest.fixture
def recipe() -> TrainConfig:
    return TrainConfig(
        epochs=3, batch_size=16, lr=0.1, warmup_epochs=1, drop_connect=0.1, workers=0, log_every=2, seed=3
    )
