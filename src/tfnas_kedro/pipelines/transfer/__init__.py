"""Transfer: fine-tune a trained architecture on CIFAR-10 and CIFAR-100, one namespace each (section 10)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
