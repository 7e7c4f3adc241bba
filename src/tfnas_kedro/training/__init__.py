"""Training stand-alone networks: the trainer (AMP, EMA, checkpoints, resume), data-parallel launch
across processes and machines, and ONNX export. Plain PyTorch: no Kedro import."""

from tfnas_kedro.launch import DistributedConfig

from .config import TrainConfig
from .distributed import TrainingJob, launch_training
from .export import export_executorch, export_onnx
from .trainer import Trainer, TrainingError, load_trained_network

__all__ = [
    "DistributedConfig",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "TrainingJob",
    "export_executorch",
    "export_onnx",
    "launch_training",
    "load_trained_network",
]
