"""The report's sections, one function each, in the order of the page. A section whose artifacts
are missing says which pipeline to run instead; its figures are named as the report saves them."""

from __future__ import annotations

import pandas as pd

from tfnas_kedro.artifacts import SearchSummary, TrainingMetrics
from tfnas_kedro.nas import ArchDescription
from tfnas_kedro.nas.search import describe_learning
from tfnas_kedro.nas.table_meta import FidelitySummary

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
)
from .html import Section
from .tables import accuracy_points, fidelity_rows


def searched_architectures_section(summary: pd.DataFrame) -> Section:
    """What each search found (``summary``: :func:`~.tables.summary_table`)."""
    title = "Searched architectures"
    if not len(summary):
        return Section(title, missing="no search has run (kedro run --pipelines search)")
    text = (
        "Target, table latency, latency measured on the table's device, gap to the target (own gap: the search's own "
        "architecture, before any depth/op fallback), MACs, parameters, whether the supernet learned, and top-1 of "
        "the retrained network where it was trained."
    )
    return Section(title, tables=[summary], text=text)


def search_section(
    history: pd.DataFrame | None, summary: SearchSummary | None, target_summaries: dict[str, SearchSummary] | None
) -> Section:
    """The default search epoch by epoch: whether its supernet learned, latency against the target,
    and the op and depth distributions; a warning where the supernet has not learned, and one per
    search whose own architecture needed the depth/op fallback."""
    if history is None or summary is None:
        return Section("Search", missing="no search history (kedro run --pipelines search)")
    figures, warnings = {}, []
    if summary.supernet is not None:
        figures["search_learning"] = search_learning(history, summary.supernet.classes)
        warnings += [] if summary.supernet.learned else [describe_learning(summary.supernet)]
    figures["search_latency"] = search_latency(history, summary.target_ms)
    figures["search_probabilities"] = search_probabilities(history)
    warnings += _fallback_warnings({"default (search)": summary, **(target_summaries or {})})
    return Section("Search", figures=figures, warnings=warnings)


def _fallback_warnings(summaries: dict[str, SearchSummary | None]) -> list[str]:
    """One note per search whose own architecture needed the depth/op fallback to meet its target."""
    return [
        f"{name}: the search's own architecture ({s.own_ms:.3f} ms) was {100 * abs(s.own_gap):.1f}% "
        f"{'below' if s.own_gap > 0 else 'above'} the {s.target_ms:.3f} ms target; the fallback made "
        f"{len(s.fallback_changes)} depth/op changes: {'; '.join(s.fallback_changes)}"
        for name, s in summaries.items()
        if s is not None and s.fallback_changes
    ]


def architecture_section(arch: ArchDescription | None) -> Section:
    """The derived architecture of the default search, block by block."""
    title = "The derived architecture"
    if arch is None:
        return Section(title, missing="no searched architecture (kedro run --pipelines search)")
    return Section(title, figures={"architecture": architecture_drawing(arch)})


def latency_fidelity_section(
    fidelity: pd.DataFrame | None,
    fidelity_summary: FidelitySummary | None,
    search_summary: SearchSummary | None,
    targets: dict[str, SearchSummary] | None,
    metrics: TrainingMetrics | None = None,
) -> Section:
    """How well the lookup table predicts measured latency: the held-out published models, the
    searched architectures that were timed and the program that ships, with the table's error and
    noise floor."""
    title = "Latency lookup table: predicted vs measured"
    rows = fidelity_rows(fidelity, search_summary, targets, metrics)
    if not len(rows):
        return Section(title, missing="no fidelity table (kedro run --pipelines latency)")
    text = "" if fidelity_summary is None else _fidelity_text(fidelity_summary)
    program = None if metrics is None else metrics.executorch
    if program:
        text += (
            f" The trained network ships as trained_model.pte (ExecuTorch {program['executorch']}, "
            f"{program['backend']}, {program['bytes'] / 1e6:.1f} MB): its logits differ from PyTorch's by at most "
            f"{program['max_abs_diff']:.1e}."
        )
    figures = {"latency_fidelity": latency_fidelity_scatter(rows)}
    return Section(title, figures=figures, tables=[rows.round(3)], text=text)


def _fidelity_text(s: FidelitySummary) -> str:
    return (
        f"{s.device_name} ({s.device}), batch {s.batch_size}, input {s.resolution}: median |error| "
        f"{100 * s.median_abs_error:.1f}%, max {100 * s.max_abs_error:.1f}% over {s.models} held-out "
        f"networks; noise floor {100 * s.noise_floor.spread:.1f}%."
    )


def accuracy_vs_latency_section(
    reference: pd.DataFrame,
    fidelity: pd.DataFrame | None,
    published: pd.DataFrame,
    metrics: TrainingMetrics | None,
    fidelity_summary: FidelitySummary | None,
) -> Section:
    """Top-1 against latency: what was timed here in one panel, the paper's numbers in one panel per
    hardware. Always there: the paper's points need no pipeline."""
    points = accuracy_points(reference, fidelity, published, metrics)
    figure = accuracy_vs_latency(points, _measured_here(fidelity_summary))
    text = (
        "Left, measured here: latency with this project's harness on the table's device and runtime at its input "
        "size, with ImageNet top-1 as published (TF-NAS models: the paper; torchvision models: their weights' "
        "metadata); the searched model's top-1 is on this run's data, not ImageNet. Right, one panel per hardware: "
        "accuracy and latency as the paper reports them. Latencies are comparable within a panel only."
    )
    return Section("Accuracy vs latency", figures={"accuracy_vs_latency": figure}, text=text)


def _measured_here(summary: FidelitySummary | None) -> str:
    if summary is None:
        return "no latency table yet"
    return (
        f"{summary.device_name} ({summary.device}, {summary.runtime}), batch {summary.batch_size}, "
        f"input {summary.resolution}"
    )


def training_section(history: pd.DataFrame | None, metrics: TrainingMetrics | None) -> Section:
    """The retraining's curves, and its final metrics (the nested ones, such as the ONNX checks, left out)."""
    if history is None:
        return Section("Training", missing="no training run (kedro run --pipelines train)")
    flat = {} if metrics is None else {k: v for k, v in metrics.model_dump().items() if not isinstance(v, dict)}
    tables = [pd.DataFrame([flat])] if flat else []
    return Section("Training", figures={"training_curves": training_curves(history)}, tables=tables)


def transfer_section(table: pd.DataFrame | None) -> Section:
    """Top-1 of the transferred models after fine-tuning, per data set."""
    if table is None:
        return Section("Transfer", missing="no transfer run (kedro run --pipelines transfer)")
    return Section("Transfer", figures={"transfer": transfer_figure(table)})


def search_quality_section(table: pd.DataFrame | None, stats: pd.DataFrame | None = None) -> Section:
    """Searched vs random architectures at equal latency, retrained alike and scored on the test
    split, per target, with intervals; whether the supernet ranks them as retraining does; a
    warning where a search ended before its supernet learned or a run diverged."""
    title = "Searched vs random at equal latency"
    if table is None or stats is None:
        return Section(title, missing="no search-quality study (kedro run --pipelines study_search_quality)")
    warnings = []
    if not table["supernet_learned"].all():
        warnings.append(
            "Some of these searches ended before their supernet learned (see supernet_learned): their choices rest "
            "mostly on the latency term."
        )
    for row in stats.dropna(subset=["left_out"]).itertuples():
        warnings.append(f"{row.target}: left out of the means as diverged: {row.left_out}.")
    text = (
        "Each target's searched architecture (retrained with several seeds), random architectures drawn from the "
        "space and scaled by elasticity-scaling to the same table latency, and the published model closest to it, "
        "all retrained with one recipe and budget and scored once on the held-out test split. A random "
        "architecture retrained with several seeds counts once, at its seeds' mean. Intervals are 95%: "
        "a bootstrap over test images and over the models of each arm. Where the difference's interval includes 0 "
        "the verdict is 'no difference shown'. Kendall tau compares each architecture's top-1 through the trained "
        "supernet (inherited weights, BatchNorm recalibrated) with its top-1 after retraining."
    )
    tables = [stats, table.drop(columns=["supernet_learned"])]
    figures = {"search_quality": search_quality(table, stats), "supernet_ranking": supernet_ranking(table)}
    return Section(title, figures=figures, tables=tables, warnings=warnings, text=text)
