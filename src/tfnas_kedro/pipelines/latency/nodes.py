"""Nodes of the ``latency`` pipeline (docs/method.md section 6)."""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go

from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.calibration import calibrate_and_check
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.table_build import build_latency_table
from tfnas_kedro.nas.table_meta import FidelitySummary
from tfnas_kedro.params import LatencyParams, parse_params

logger = logging.getLogger(__name__)


def _spaces(p: LatencyParams, search_spaces: dict):
    spaces = load_search_spaces(search_spaces)
    unknown = [name for name in p.spaces if name not in spaces]
    if unknown:
        raise ValueError(f"params:latency.spaces: unknown search space(s) {unknown} (known: {sorted(spaces)})")
    return [spaces[name].at_resolution(p.resolution) for name in p.spaces]


def measure_latency_table(params: dict, search_spaces: dict) -> LatencyTable:
    """Time every block the configured spaces can produce, over its width range, on the device."""
    p = parse_params(LatencyParams, params, "latency")
    return build_latency_table(
        _spaces(p, search_spaces),
        resolution=p.resolution,
        num_classes=p.num_classes,
        width_step=p.width_step,
        settings=p.profiler_settings(),
        channel_block=p.channel_block,
        curve_tolerance=p.curve_tolerance,
    )


def calibrate_latency_table(
    table: LatencyTable, params: dict, search_spaces: dict
) -> tuple[LatencyTable, pd.DataFrame, pd.DataFrame, FidelitySummary]:
    """Fit the table to networks sampled from every space it covers and check it on the zoo models
    it can price, all timed in one session; the published models are held out of the fit."""
    p = parse_params(LatencyParams, params, "latency")
    spaces = _spaces(p, search_spaces)
    archs = p.fidelity_archs(table, spaces)
    return calibrate_and_check(
        table,
        spaces,
        archs,
        p.network_settings(),
        samples=p.calibration_networks,
        seed=p.seed,
        noise_repeats=p.noise_repeats,
    )


def plot_latency_fidelity(fidelity: pd.DataFrame, calibration: pd.DataFrame, summary: FidelitySummary) -> go.Figure:
    """Predicted vs measured latency, one point per network, with the y = x line."""
    top = float(
        max(
            fidelity[["predicted_ms", "measured_ms"]].max().max(),
            calibration[["predicted_ms", "measured_ms"]].max().max(),
        )
    )
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[0, top * 1.05], y=[0, top * 1.05], mode="lines", name="y = x", line={"dash": "dash", "color": "grey"}
        )
    )
    figure.add_trace(
        go.Scatter(
            x=calibration["measured_ms"], y=calibration["predicted_ms"], mode="markers", name="calibration samples",
            marker={"color": "lightgrey", "size": 7}, text=calibration["name"],
        )
    )  # fmt: skip
    hover = "%{text}<br>measured %{x:.2f} ms<br>predicted %{y:.2f} ms<br>error %{customdata:+.1f}%<extra></extra>"
    figure.add_trace(
        go.Scatter(
            x=fidelity["measured_ms"],
            y=fidelity["predicted_ms"],
            mode="markers+text",
            name="published models (held out)",
            text=fidelity["name"],
            textposition="top center",
            marker={"size": 9},
            customdata=100 * fidelity["relative_error"],
            hovertemplate=hover,
        )
    )
    figure.update_layout(
        title=(
            f"Lookup table vs measured latency, {summary.device_name} ({summary.device}, "
            f"batch {summary.batch_size}, input {summary.resolution}): median |error| "
            f"{100 * summary.median_abs_error:.1f}%, noise floor {100 * summary.noise_floor.spread:.1f}%"
        ),
        xaxis_title="measured latency (ms)",
        yaxis_title="predicted latency (ms)",
        template="plotly_white",
    )
    return figure
