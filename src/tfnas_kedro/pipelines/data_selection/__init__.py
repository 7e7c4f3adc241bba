"""Data selection: demo data, image index, class ranking, the class subset and its search split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
