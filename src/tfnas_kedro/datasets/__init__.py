"""Custom Kedro datasets: architectures, typed node outputs, checkpoints, raw image folders, latency tables, exported
models (ONNX graphs, ExecuTorch programs)."""

from .architecture_dataset import ArchitectureDataset
from .checkpoint_dataset import TorchCheckpointDataset
from .cifar_dataset import CifarRoot, CifarRootDataset
from .image_folder_dataset import ImageFolderDataset
from .latency_table_dataset import LatencyTableDataset
from .model_json_dataset import ModelJSONDataset
from .onnx_dataset import ExecuTorchProgramDataset, OnnxModelDataset
from .optional_dataset import OptionalDataset

__all__ = [
    "ArchitectureDataset",
    "CifarRoot",
    "CifarRootDataset",
    "ExecuTorchProgramDataset",
    "ImageFolderDataset",
    "LatencyTableDataset",
    "ModelJSONDataset",
    "OnnxModelDataset",
    "OptionalDataset",
    "TorchCheckpointDataset",
]
