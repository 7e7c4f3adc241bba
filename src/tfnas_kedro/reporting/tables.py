"""The tables behind the report's sections, from the pipelines' artifacts (any may be ``None``)."""

from __future__ import annotations

import pandas as pd

from tfnas_kedro.artifacts import SearchSummary, TrainingMetrics

FIDELITY_COLUMNS = ["name", "kind", "predicted_ms", "measured_ms"]
POINT_COLUMNS = ["name", "group", "panel", "latency_ms", "top1_percent"]


def summary_table(
    search_summary: SearchSummary | None,
    target_summaries: dict[str, SearchSummary] | None,
    metrics: TrainingMetrics | None,
) -> pd.DataFrame:
    """One row per search that ran: the default one first (with the retrained top-1 where it was
    trained), then each target's; empty where none ran."""
    rows = [_summary_row("default (search)", search_summary, metrics)]
    rows += [_summary_row(name, s, None) for name, s in (target_summaries or {}).items()]
    return pd.DataFrame([r for r in rows if r is not None])


def _summary_row(name: str, summary: SearchSummary | None, metrics: TrainingMetrics | None) -> dict | None:
    if summary is None:
        return None
    return {
        "search": name,
        "target_ms": summary.target_ms,
        "table_ms": summary.table_ms,
        "measured_ms": summary.measured_ms,
        "gap_percent": 100 * summary.gap,
        "own_gap_percent": None if summary.own_gap is None else 100 * summary.own_gap,
        "fallback_changes": len(summary.fallback_changes),
        "supernet_learned": None if summary.supernet is None else summary.supernet.learned,
        "measured_error_percent": None if summary.measured_error is None else 100 * summary.measured_error,
        # the session-drift-corrected error within the table's held-out error and noise floor
        "within_table_bound": summary.within_fidelity_bound,
        "macs_m": summary.macs_m,
        "params_m": summary.params_m,
        "top1": None if metrics is None else metrics.top1,
    }


def fidelity_rows(
    fidelity: pd.DataFrame | None,
    search_summary: SearchSummary | None,
    targets: dict[str, SearchSummary] | None,
    metrics: TrainingMetrics | None = None,
) -> pd.DataFrame:
    """Table-predicted and measured latency of the held-out published models, of every searched
    architecture that was timed, and of the file that ships (the trained network's ExecuTorch
    program, timed itself), with the relative error of the prediction."""
    rows = []
    if fidelity is not None:
        rows += [(r.name, "published models", r.predicted_ms, r.measured_ms) for r in fidelity.itertuples()]
    for name, s in [("searched", search_summary), *(targets or {}).items()]:
        if s is not None and s.measured_ms is not None:
            rows.append((name, "searched", s.table_ms, s.measured_ms))
    if metrics is not None and metrics.executorch and metrics.measured_ms is not None:
        rows.append((f"{metrics.name} (trained_model.pte)", "shipped program", metrics.table_ms, metrics.measured_ms))
    frame = pd.DataFrame(rows, columns=FIDELITY_COLUMNS)
    frame["relative_error"] = (frame["predicted_ms"] - frame["measured_ms"]) / frame["measured_ms"]
    return frame


def accuracy_points(
    reference: pd.DataFrame, fidelity: pd.DataFrame | None, published: pd.DataFrame, metrics: TrainingMetrics | None
) -> pd.DataFrame:
    """Every (latency, top-1) point the report can place, each in its panel: ``here`` for what this
    project timed (torchvision's models, the paper's models, the retrained search), else the
    paper's own hardware setting for the numbers it published."""
    top1 = dict(zip(published["architecture"], published["top1_percent"], strict=True))
    here = "here"  # the panel that accuracy_vs_latency keeps for what this project timed
    points = [
        (r.name, "torchvision, measured here", here, r.measured_ms, r.top1_percent) for r in reference.itertuples()
    ]
    if fidelity is not None:
        group = "TF-NAS published models, measured here"
        points += [
            (r.name, group, here, r.measured_ms, top1.get(r.name)) for r in fidelity.itertuples() if r.name in top1
        ]
    if metrics is not None and metrics.measured_ms is not None:
        group = "searched + retrained here (this run's data)"
        points.append((metrics.name, group, here, metrics.measured_ms, 100 * metrics.top1))
    for setting, rows in published.groupby("latency_setting", sort=False):
        group = f"published by the paper ({setting})"
        points += [(r.architecture, group, setting, r.latency_ms, r.top1_percent) for r in rows.itertuples()]
    return pd.DataFrame(points, columns=POINT_COLUMNS)
