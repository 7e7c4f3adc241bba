"""Nodes of the ``report`` pipeline: reference models measured here, figures, the HTML page.

Every artifact input may be ``None`` (its pipeline has not run: the catalog's ``optional_*`` entries
are optional); the section it feeds then says which pipeline to run instead of failing.
"""

from __future__ import annotations

import logging

import pandas as pd
import torch

from tfnas_kedro.artifacts import SearchSummary, TrainingMetrics
from tfnas_kedro.nas import ArchDescription
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.profiler import ProfilerSettings, Timing, in_timing_process
from tfnas_kedro.nas.profilers import make_profiler
from tfnas_kedro.nas.table_meta import FidelitySummary
from tfnas_kedro.params import REFERENCE_MODELS, LatencyParams, ReportParams, parse_params
from tfnas_kedro.reporting import (
    accuracy_vs_latency_section,
    architecture_section,
    latency_fidelity_section,
    render_report,
    search_quality_section,
    search_section,
    searched_architectures_section,
    summary_table,
    training_section,
    transfer_section,
    unavailable,
)

logger = logging.getLogger(__name__)


def _reference_top1(name: str) -> float:
    """The published ImageNet top-1 of reference model ``name``, from its torchvision weights' own
    metadata (no download)."""
    from torchvision import models  # here: importing torchvision slows every kedro command by ~1.4 s

    weights = models.get_model_weights(REFERENCE_MODELS[name]).IMAGENET1K_V1
    return weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]


def _time_reference_models(
    names: list[str], num_classes: int, resolution: int, settings: ProfilerSettings, reference_ms: float
) -> list[Timing]:
    from torchvision import models

    with torch.random.fork_rng(devices=[]):
        networks = [models.get_model(REFERENCE_MODELS[name], num_classes=num_classes) for name in names]
        shapes = [(3, resolution, resolution)] * len(networks)
        return make_profiler(settings, reference_ms).time_modules(networks, shapes)


def measure_reference_models(latency_table: LatencyTable | None, report: dict, latency: dict) -> pd.DataFrame:
    """torchvision's mobile models timed with the latency pipeline's harness and device, at the
    table's resolution and in its unit, next to their published ImageNet top-1."""
    p = parse_params(ReportParams, report, "report")
    unknown = sorted(set(p.reference_models) - set(REFERENCE_MODELS))
    if unknown:
        raise ValueError(f"params:report.reference_models: unknown {unknown} (known: {sorted(REFERENCE_MODELS)})")
    columns = ["name", "measured_ms", "top1_percent", "resolution", "device"]
    if latency_table is None or not p.measure_reference_models:
        return pd.DataFrame(columns=columns)
    m = latency_table.meta
    settings = parse_params(LatencyParams, latency, "latency").settings_for(latency_table)  # where it was timed
    args = (p.reference_models, m.num_classes, m.resolution, settings, m.reference_ms)
    timings = in_timing_process(settings, _time_reference_models, *args)  # as this run's networks were
    rows = [
        (name, t.ms, _reference_top1(name), m.resolution, settings.device)
        for name, t in zip(p.reference_models, timings, strict=True)
    ]
    return pd.DataFrame(rows, columns=columns)


def build_report(
    search_summary: SearchSummary | None,
    search_history: pd.DataFrame | None,
    searched_architecture: ArchDescription | None,
    target_summaries: dict[str, SearchSummary] | None,
    latency_fidelity: pd.DataFrame | None,
    latency_fidelity_summary: FidelitySummary | None,
    training_metrics: TrainingMetrics | None,
    training_history: pd.DataFrame | None,
    transfer_table: pd.DataFrame | None,
    search_quality_table: pd.DataFrame | None,
    search_quality_stats: pd.DataFrame | None,
    reference_models: pd.DataFrame,
    published_results: pd.DataFrame,
    report: dict,
) -> tuple:
    """The HTML report, the per-target summary table, and every figure (:data:`FIGURES` order; a
    placeholder that names the pipeline to run where its artifacts are missing)."""
    p = parse_params(ReportParams, report, "report")
    summary = summary_table(search_summary, target_summaries, training_metrics)
    sections = [
        searched_architectures_section(summary),
        search_section(search_history, search_summary, target_summaries),
        architecture_section(searched_architecture),
        latency_fidelity_section(
            latency_fidelity, latency_fidelity_summary, search_summary, target_summaries, training_metrics
        ),
        accuracy_vs_latency_section(
            reference_models, latency_fidelity, published_results, training_metrics, latency_fidelity_summary
        ),
        training_section(training_history, training_metrics),
        transfer_section(transfer_table),
        search_quality_section(search_quality_table, search_quality_stats),
    ]
    meta = "" if latency_fidelity_summary is None else f"Device: {latency_fidelity_summary.device_name}."
    page = render_report(p.title, sections, meta)
    figures = {name: figure for section in sections for name, figure in section.figures.items()}
    logger.info("report: %d sections, %d figures, %.1f MB", len(sections), len(figures), len(page) / 1e6)
    # the catalog saves every figure: a missing one is a placeholder naming what to run
    reason = "; ".join(s.missing for s in sections if s.missing) or "its artifacts are missing"
    return page, summary, *(figures.get(name) or unavailable(name, reason) for name in FIGURES)


FIGURES = [
    "search_learning",
    "search_latency",
    "search_probabilities",
    "architecture",
    "latency_fidelity",
    "accuracy_vs_latency",
    "training_curves",
    "transfer",
    "search_quality",
    "supernet_ranking",
]


def collect_target_summaries(**summaries: SearchSummary | None) -> dict[str, SearchSummary]:
    """The per-target search summaries that exist, by target name."""
    return {name: s for name, s in summaries.items() if s is not None}
