"""Custom Kedro datasets: architecture descriptions, training checkpoints, raw image folders."""

from .architecture_dataset import ArchitectureDataset
from .checkpoint_dataset import TorchCheckpointDataset
from .image_folder_dataset import ImageFolderDataset

__all__ = ["ArchitectureDataset", "ImageFolderDataset", "TorchCheckpointDataset"]
