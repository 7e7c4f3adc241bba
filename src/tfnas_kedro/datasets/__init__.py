"""Custom Kedro datasets: architecture descriptions, training checkpoints, raw image folders, latency tables."""

from .architecture_dataset import ArchitectureDataset
from .checkpoint_dataset import TorchCheckpointDataset
from .image_folder_dataset import ImageFolderDataset
from .latency_table_dataset import LatencyTableDataset

__all__ = ["ArchitectureDataset", "ImageFolderDataset", "LatencyTableDataset", "TorchCheckpointDataset"]
