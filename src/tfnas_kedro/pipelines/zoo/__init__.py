"""Published architectures: build every zoo model and tabulate its cost."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
