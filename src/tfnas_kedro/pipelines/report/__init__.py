"""Report: one self-contained HTML page and its figures from whatever the other pipelines produced."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
