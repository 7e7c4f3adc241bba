"""The report: figures and tables built from the pipelines' artifacts, one function per section of
the page, and the self-contained HTML page. Plain pandas/plotly: no Kedro import; every input may be
missing (``None``)."""

from .figures import (
    accuracy_vs_latency,
    architecture_drawing,
    latency_fidelity_scatter,
    search_latency,
    search_learning,
    search_probabilities,
    search_quality,
    supernet_ranking,
    training_curves,
    transfer_figure,
    unavailable,
)
from .html import Section, render_report
from .sections import (
    accuracy_vs_latency_section,
    architecture_section,
    latency_fidelity_section,
    search_quality_section,
    search_section,
    searched_architectures_section,
    training_section,
    transfer_section,
)
from .tables import summary_table

__all__ = [
    "Section",
    "accuracy_vs_latency",
    "accuracy_vs_latency_section",
    "architecture_drawing",
    "architecture_section",
    "latency_fidelity_scatter",
    "latency_fidelity_section",
    "render_report",
    "search_latency",
    "search_learning",
    "search_probabilities",
    "search_quality",
    "search_quality_section",
    "search_section",
    "searched_architectures_section",
    "summary_table",
    "supernet_ranking",
    "training_curves",
    "training_section",
    "transfer_figure",
    "transfer_section",
    "unavailable",
]
