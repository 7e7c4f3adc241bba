"""Train a published model by name with the `train` pipeline's nodes, under the `zoo` namespace."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
