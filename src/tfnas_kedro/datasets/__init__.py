"""Custom Kedro datasets: architecture descriptions and training checkpoints."""

from .architecture_dataset import ArchitectureDataset
from .checkpoint_dataset import TorchCheckpointDataset

__all__ = ["ArchitectureDataset", "TorchCheckpointDataset"]
