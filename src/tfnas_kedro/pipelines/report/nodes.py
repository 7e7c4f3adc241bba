"""Nodes of the ``report`` pipeline: reference models measured here, figures, the HTML page.

Every artifact input may be ``None`` (its pipeline has not run: the catalog's ``optional_*`` entries
are optional); the section it feeds then says which pipeline to run instead of failing.
"""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go
import torch
from pydantic import Field
from torchvision import models

from tfnas_kedro.nas import ArchDescription
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.profiler import Profiler
from tfnas_kedro.nas.search import describe_learning
from tfnas_kedro.params import LatencyParams, Params, parse_params
from tfnas_kedro.reporting import (
    Section,
    accuracy_vs_latency,
    architecture_drawing,
    latency_fidelity_scatter,
    render_report,
    search_latency,
    search_learning,
    search_probabilities,
    search_quality,
    training_curves,
    transfer_figure,
)

logger = logging.getLogger(__name__)

# torchvision's reference models: architecture only (no download); ImageNet top-1 from the
# weights' own metadata, which ships with torchvision
REFERENCE_MODELS = {
    "MobileNetV2": (models.mobilenet_v2, models.MobileNet_V2_Weights.IMAGENET1K_V1),
    "MobileNetV3-Large": (models.mobilenet_v3_large, models.MobileNet_V3_Large_Weights.IMAGENET1K_V1),
    "EfficientNet-B0": (models.efficientnet_b0, models.EfficientNet_B0_Weights.IMAGENET1K_V1),
    "MNASNet-1.0": (models.mnasnet1_0, models.MNASNet1_0_Weights.IMAGENET1K_V1),
}


class ReportParams(Params):
    title: str = "TF-NAS report"
    reference_models: list[str] = Field(default_factory=lambda: list(REFERENCE_MODELS))
    measure_reference_models: bool = True


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
    settings = parse_params(LatencyParams, latency, "latency").network_settings()
    networks = [REFERENCE_MODELS[name][0](num_classes=m.num_classes) for name in p.reference_models]
    shape = (3, m.resolution, m.resolution)
    with torch.random.fork_rng(devices=[]):
        timings = Profiler(settings, m.reference_ms).time_modules(networks, [shape] * len(networks))
    rows = [
        (name, t.ms, REFERENCE_MODELS[name][1].meta["_metrics"]["ImageNet-1K"]["acc@1"], m.resolution, m.device)
        for name, t in zip(p.reference_models, timings, strict=True)
    ]
    return pd.DataFrame(rows, columns=columns)


def _summary_row(name: str, summary: dict | None, metrics: dict | None) -> dict | None:
    if summary is None:
        return None
    return {
        "search": name,
        "target_ms": summary["target_ms"],
        "table_ms": summary["table_ms"],
        "measured_ms": summary.get("measured_ms"),
        "gap_percent": 100 * summary["gap"],
        "own_gap_percent": 100 * summary["own_gap"] if "own_gap" in summary else None,
        "fallback_changes": len(summary.get("fallback_changes", [])),
        "supernet_learned": summary["supernet"]["learned"] if "supernet" in summary else None,
        "measured_error_percent": 100 * summary["measured_error"] if "measured_error" in summary else None,
        # the session-drift-corrected error within the table's held-out error and noise floor
        "within_table_bound": summary.get("within_fidelity_bound"),
        "macs_m": summary["macs_m"],
        "params_m": summary["params_m"],
        "top1": None if metrics is None else metrics["top1"],
    }


def build_report(
    search_summary: dict | None,
    search_history: pd.DataFrame | None,
    searched_architecture: ArchDescription | None,
    target_summaries: dict | None,
    latency_fidelity: pd.DataFrame | None,
    latency_fidelity_summary: dict | None,
    training_metrics: dict | None,
    training_history: pd.DataFrame | None,
    transfer_table: pd.DataFrame | None,
    search_quality_table: pd.DataFrame | None,
    reference_models: pd.DataFrame,
    published_results: pd.DataFrame,
    report: dict,
) -> tuple:
    """The HTML report, the per-target summary table, and every figure (:data:`FIGURES` order; a
    placeholder that names the pipeline to run where its artifacts are missing)."""
    p = parse_params(ReportParams, report, "report")
    figures: dict[str, go.Figure] = {}
    sections: list[Section] = []

    rows = [_summary_row("default (search)", search_summary, training_metrics)]
    rows += [_summary_row(name, s, None) for name, s in (target_summaries or {}).items()]
    summary = pd.DataFrame([r for r in rows if r is not None])
    sections.append(
        Section("Searched architectures", tables=[summary],
                text="Target, table latency, latency measured on the table's device, gap to the target (own gap: the "
                     "search's own architecture, before any depth/op fallback), MACs, parameters, whether the "
                     "supernet learned, and top-1 of the retrained network where it was trained.",
                missing=None if len(summary) else "no search has run (kedro run --pipelines search)")
    )  # fmt: skip

    warnings = []
    if search_history is not None and search_summary is not None:
        figures["search_latency"] = search_latency(search_history, search_summary["target_ms"])
        figures["search_probabilities"] = search_probabilities(search_history)
        if "supernet" in search_summary:
            status = search_summary["supernet"]
            figures["search_learning"] = search_learning(search_history, round(1 / status["chance_top1"]))
            warnings += [] if status["learned"] else [describe_learning(status)]
        warnings += _fallback_warnings({"default (search)": search_summary, **(target_summaries or {})})
    search_figures = ("search_learning", "search_latency", "search_probabilities")
    sections.append(
        Section("Search", figures=[figures[k] for k in search_figures if k in figures], warnings=warnings,
                missing=None if "search_latency" in figures else "no search history (kedro run --pipelines search)")
    )  # fmt: skip

    if searched_architecture is not None:
        figures["architecture"] = architecture_drawing(searched_architecture)
    sections.append(
        Section("The derived architecture", figures=[figures["architecture"]] if "architecture" in figures else [],
                missing=None if "architecture" in figures
                else "no searched architecture (kedro run --pipelines search)")
    )  # fmt: skip

    fidelity = _fidelity_rows(latency_fidelity, search_summary, target_summaries)
    if len(fidelity):
        figures["latency_fidelity"] = latency_fidelity_scatter(fidelity)
    text = ""
    if latency_fidelity_summary is not None:
        s = latency_fidelity_summary
        text = (f"{s['device_name']} ({s['device']}), batch {s['batch_size']}, input {s['resolution']}: median |error| "
                f"{100 * s['median_abs_error']:.1f}%, max {100 * s['max_abs_error']:.1f}% over {s['models']} held-out "
                f"published models; noise floor {100 * s['noise_floor']['spread']:.1f}%.")  # fmt: skip
    sections.append(
        Section("Latency lookup table: predicted vs measured", text=text,
                figures=[figures["latency_fidelity"]] if len(fidelity) else [],
                tables=[fidelity.round(3)] if len(fidelity) else [],
                missing=None if len(fidelity) else "no fidelity table (kedro run --pipelines latency)")
    )  # fmt: skip

    points = _accuracy_points(reference_models, latency_fidelity, published_results, training_metrics)
    figures["accuracy_vs_latency"] = accuracy_vs_latency(points, _measured_here(latency_fidelity_summary))
    sections.append(
        Section("Accuracy vs latency", figures=[figures["accuracy_vs_latency"]],
                text="Left, measured here: latency with this project's harness on the table's device and runtime "
                     "at its input size, with ImageNet top-1 as published (TF-NAS models: the paper; torchvision "
                     "models: their weights' metadata); the searched model's top-1 is on this run's data, not "
                     "ImageNet. Right, one panel per hardware: accuracy and latency as the paper reports them. "
                     "Latencies are comparable within a panel only.")
    )  # fmt: skip

    if training_history is not None:
        figures["training_curves"] = training_curves(training_history)
    sections.append(
        Section("Training", figures=[figures["training_curves"]] if "training_curves" in figures else [],
                tables=[pd.DataFrame([{k: v for k, v in training_metrics.items() if not isinstance(v, dict)}])]
                if training_metrics else [],
                missing=None if training_history is not None else "no training run (kedro run --pipelines train)")
    )  # fmt: skip

    if transfer_table is not None:
        figures["transfer"] = transfer_figure(transfer_table)
    sections.append(
        Section("Transfer", figures=[figures["transfer"]] if "transfer" in figures else [],
                missing=None if transfer_table is not None else "no transfer run (kedro run --pipelines transfer)")
    )  # fmt: skip

    sections.append(_search_quality_section(search_quality_table, figures))

    meta = "" if latency_fidelity_summary is None else f"Device: {latency_fidelity_summary['device_name']}."
    page = render_report(p.title, sections, meta)
    logger.info("report: %d sections, %d figures, %.1f MB", len(sections), len(figures), len(page) / 1e6)
    placeholders = {s.title: s.missing for s in sections if s.missing}
    return page, summary, *(figures.get(name) or _placeholder(name, placeholders) for name in FIGURES)


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
]


def _search_quality_section(table: pd.DataFrame | None, figures: dict) -> Section:
    """Searched vs random architectures at equal latency, retrained alike, per target."""
    if table is None:
        return Section("Searched vs random at equal latency",
                       missing="no search-quality study (kedro run --pipelines study_search_quality)")  # fmt: skip
    figures["search_quality"] = search_quality(table)
    per_target = table.groupby("target", sort=False).apply(_quality_row, include_groups=False).reset_index()
    warnings = [] if table["supernet_learned"].all() else [
        "Some of these searches ended before their supernet learned (see supernet_learned): their choices rest "
        "mostly on the latency term."
    ]  # fmt: skip
    return Section("Searched vs random at equal latency", figures=[figures["search_quality"]],
                   tables=[per_target, table.drop(columns=["supernet_learned"])], warnings=warnings,
                   text="Each target's searched architecture, random architectures drawn from the space and scaled "
                        "by elasticity-scaling to the same table latency, and the published model closest to it, "
                        "all retrained with one recipe and budget on this run's data.")  # fmt: skip


def _quality_row(group: pd.DataFrame) -> pd.Series:
    random = group.loc[group["kind"] == "random", "top1"]
    searched = group.loc[group["kind"] == "searched"].iloc[0]
    zoo = group.loc[group["kind"] == "zoo"]
    return pd.Series({
        "target_ms": searched["target_ms"], "searched_top1": searched["top1"], "random_mean_top1": random.mean(),
        "random_min_top1": random.min(), "random_max_top1": random.max(),
        "searched_minus_random_mean": searched["top1"] - random.mean(),
        "zoo_model": zoo["name"].iloc[0] if len(zoo) else None, "zoo_top1": zoo["top1"].iloc[0] if len(zoo) else None,
    })  # fmt: skip


def _fallback_warnings(summaries: dict[str, dict]) -> list[str]:
    """One note per search whose own architecture needed the depth/op fallback to meet its target."""
    return [
        f"{name}: the search's own architecture ({s['own_ms']:.3f} ms) was {100 * abs(s['own_gap']):.1f}% "
        f"{'below' if s['own_gap'] > 0 else 'above'} the {s['target_ms']:.3f} ms target; the fallback made "
        f"{len(s['fallback_changes'])} depth/op changes: {'; '.join(s['fallback_changes'])}"
        for name, s in summaries.items()
        if s is not None and s.get("fallback_changes")
    ]


def _placeholder(name: str, missing: dict[str, str]) -> go.Figure:
    figure = go.Figure()
    reason = "; ".join(missing.values()) or "its artifacts are missing"
    figure.add_annotation(
        text=f"{name}: not available ({reason})", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    figure.update_layout(title=f"{name} (not available)", template="plotly_white")
    return figure


def _fidelity_rows(fidelity: pd.DataFrame | None, search_summary: dict | None, targets: dict | None) -> pd.DataFrame:
    rows = []
    if fidelity is not None:
        rows += [{"name": r.name, "kind": "published models", "predicted_ms": r.predicted_ms,
                  "measured_ms": r.measured_ms} for r in fidelity.itertuples()]  # fmt: skip
    for name, s in [("searched", search_summary), *(targets or {}).items()]:
        if s is not None and s.get("measured_ms") is not None:
            rows.append(
                {"name": name, "kind": "searched", "predicted_ms": s["table_ms"], "measured_ms": s["measured_ms"]}
            )
    frame = pd.DataFrame(rows, columns=["name", "kind", "predicted_ms", "measured_ms"])
    frame["relative_error"] = (frame["predicted_ms"] - frame["measured_ms"]) / frame["measured_ms"]
    return frame


def _measured_here(summary: dict | None) -> str:
    if summary is None:
        return "no latency table yet"
    return (f"{summary['device_name']} ({summary['device']}, {summary.get('runtime', 'torch')}), "
            f"batch {summary['batch_size']}, input {summary['resolution']}")  # fmt: skip


def _accuracy_points(
    reference: pd.DataFrame, fidelity: pd.DataFrame | None, published: pd.DataFrame, metrics: dict | None
) -> pd.DataFrame:
    top1 = dict(zip(published["architecture"], published["top1_percent"], strict=True))
    points = [{"name": r.name, "group": "torchvision, measured here", "panel": "here", "latency_ms": r.measured_ms,
               "top1_percent": r.top1_percent} for r in reference.itertuples()]  # fmt: skip
    if fidelity is not None:
        points += [{"name": r.name, "group": "TF-NAS published models, measured here", "panel": "here",
                    "latency_ms": r.measured_ms, "top1_percent": top1.get(r.name)}
                   for r in fidelity.itertuples() if r.name in top1]  # fmt: skip
    if metrics is not None and metrics.get("measured_ms") is not None:
        points.append({"name": metrics["name"], "group": "searched + retrained here (this run's data)", "panel": "here",
                       "latency_ms": metrics["measured_ms"], "top1_percent": 100 * metrics["top1"]})  # fmt: skip
    for setting, rows in published.groupby("latency_setting", sort=False):
        points += [{"name": r.architecture, "group": f"published by the paper ({setting})", "panel": setting,
                    "latency_ms": r.latency_ms, "top1_percent": r.top1_percent} for r in rows.itertuples()]  # fmt: skip
    return pd.DataFrame(points, columns=["name", "group", "panel", "latency_ms", "top1_percent"])


def collect_target_summaries(**summaries: dict | None) -> dict:
    """The per-target search summaries that exist, by target name."""
    return {name: s for name, s in summaries.items() if s is not None}
