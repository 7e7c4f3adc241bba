"""One namespaced search per latency target (the paper's A/B/C/D), sharing data, table and settings."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
