"""The lambda study: the latency weight, with and without elasticity-scaling, over seeds."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
