"""Train: retrain a description from scratch, export it to ONNX, summarise and plot (section 9)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
