"""Search: the TF-NAS supernet search to a latency target, derivation, summary and plots."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
