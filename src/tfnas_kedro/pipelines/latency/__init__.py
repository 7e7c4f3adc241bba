"""Latency: a measured lookup table per device, its calibration, and predicted-vs-measured fidelity."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
