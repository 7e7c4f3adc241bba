"""The sampling study: bi-sampling against single-path Gumbel sampling, over seeds."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
