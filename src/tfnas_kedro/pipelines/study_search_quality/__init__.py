"""Searched against random architectures at equal latency, retrained alike."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
