"""The report: figures and tables built from the pipelines' artifacts, and one self-contained HTML
page. Plain pandas/plotly: no Kedro import; every input may be missing (``None``)."""

from .figures import (
    accuracy_vs_latency,
    architecture_drawing,
    latency_fidelity_scatter,
    search_latency,
    search_learning,
    search_probabilities,
    search_quality,
    training_curves,
    transfer_figure,
)
from .html import Section, render_report

__all__ = [
    "Section",
    "accuracy_vs_latency",
    "architecture_drawing",
    "latency_fidelity_scatter",
    "render_report",
    "search_latency",
    "search_learning",
    "search_probabilities",
    "search_quality",
    "training_curves",
    "transfer_figure",
]
