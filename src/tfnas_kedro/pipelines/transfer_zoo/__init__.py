"""Fine-tune a published model with weights from a checkpoint file on CIFAR, under the `zoo` namespace."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
