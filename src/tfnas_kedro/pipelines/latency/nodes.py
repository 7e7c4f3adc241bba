"""Nodes of the ``latency`` pipeline (tfnas-method.md section 6)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
from pydantic import Field

from tfnas_kedro.nas import ArchDescription, load_search_spaces, zoo_arch, zoo_names
from tfnas_kedro.nas.calibration import calibrate_and_check, check_against_table
from tfnas_kedro.nas.latency import LatencyTable, build_latency_table
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.params import Params, parse_params
from tfnas_kedro.runtime import resolve_device

logger = logging.getLogger(__name__)


class LatencyParams(Params):
    spaces: list[str] = Field(["tfnas"], min_length=1, description="spaces the table covers (same stem/head)")
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    batch_size: int | None = Field(None, ge=1, description="default: 1 on CPU, 32 on CUDA (the paper)")
    threads: int = Field(1, ge=1)
    runtime: Literal["torch", "onnxruntime"] = "torch"  # what blocks and networks are timed in (nas/runtimes.py)
    resolution: int = Field(224, ge=32)
    num_classes: int = Field(1000, ge=1)
    width_step: int = Field(8, ge=1)
    # widths on multiples of this run on the runtime's fast paths and are measured and priced apart
    # (on this AVX-512 CPU: 16 in eager PyTorch, 4 in onnxruntime; benchmarks/channel_alignment.py
    # finds it for a machine); 0: one grid
    channel_block: int = Field(0, ge=0)
    warmup: int = Field(3, ge=0)
    repeats: int = Field(5, ge=1)
    rounds: int = Field(3, ge=1)
    quantile: float = Field(0.25, gt=0.0, lt=1.0)
    max_spread: float = Field(0.25, gt=0.0)
    remeasure: int = Field(2, ge=0)
    # widths more than this share off the line through their neighbours are timed again (None: never)
    curve_tolerance: float | None = Field(0.2, gt=0.0)
    network_rounds: int = Field(30, ge=1, description="interleaved rounds when timing whole networks")
    network_repeats: int = Field(1, ge=1)
    calibration_networks: int = Field(48, ge=2)
    fidelity_models: list[str] | str = "all"
    noise_repeats: int = Field(3, ge=2)
    seed: int = 0

    def profiler_settings(self) -> ProfilerSettings:
        device = resolve_device(self.device)
        batch = self.batch_size or (32 if device.type == "cuda" else 1)
        return ProfilerSettings(
            device=str(device), batch_size=batch, threads=self.threads, warmup=self.warmup, repeats=self.repeats,
            rounds=self.rounds, quantile=self.quantile, max_spread=self.max_spread, remeasure=self.remeasure,
            runtime=self.runtime,
        )  # fmt: skip

    def fidelity_archs(self, table: LatencyTable) -> list[ArchDescription]:
        """The published models the table is checked on: ``fidelity_models`` that lie in its spaces."""
        names = zoo_names() if self.fidelity_models == "all" else list(self.fidelity_models)
        archs = [zoo_arch(n, num_classes=table.meta.num_classes, resolution=table.meta.resolution) for n in names]
        archs = [a for a in archs if a.space in table.meta.spaces]
        if not archs:
            raise ValueError(
                f"params:latency.fidelity_models: no zoo model lies in the table's spaces {table.meta.spaces}"
            )
        return archs

    def network_settings(self) -> ProfilerSettings:
        """Whole networks: the same statistic, spread over more rounds (they are few and slow)."""
        return replace(
            self.profiler_settings(),
            rounds=self.network_rounds,
            repeats=self.network_repeats,
            warmup=min(self.warmup, 2),
        )


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
) -> tuple[LatencyTable, pd.DataFrame, pd.DataFrame, dict]:
    """Fit the table to networks sampled from every space it covers and check it on the zoo models
    it can price, all timed in one session; the published models are held out of the fit."""
    p = parse_params(LatencyParams, params, "latency")
    archs = p.fidelity_archs(table)
    return calibrate_and_check(
        table,
        _spaces(p, search_spaces),
        archs,
        p.network_settings(),
        samples=p.calibration_networks,
        seed=p.seed,
        noise_repeats=p.noise_repeats,
    )


def plot_latency_fidelity(fidelity: pd.DataFrame, calibration: pd.DataFrame, summary: dict) -> go.Figure:
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
            f"Lookup table vs measured latency, {summary['device_name']} ({summary['device']}, "
            f"batch {summary['batch_size']}, input {summary['resolution']}): median |error| "
            f"{100 * summary['median_abs_error']:.1f}%, noise floor {100 * summary['noise_floor']['spread']:.1f}%"
        ),
        xaxis_title="measured latency (ms)",
        yaxis_title="predicted latency (ms)",
        template="plotly_white",
    )
    return figure


def measure_against_table(table: LatencyTable, arch: ArchDescription, latency: dict) -> dict:
    """``arch``'s latency measured with the harness and device of ``latency``, interleaved with the
    table's fidelity models (see :func:`check_against_table`): measured ms and its error against the
    table, the fidelity models' errors in the same session, and the error relative to them.

    The relative error divides out how the whole session differs from the table (``session_drift``,
    the fidelity models' median measured/predicted ratio): on a shared machine the speed drifts by
    more than the table's error between the table's build and a later check, and the drift moves
    every network alike. ``within_fidelity_bound``: that relative error lies within the table's
    :attr:`~LatencyTable.fidelity_bound` (None for a table that was never checked).
    """
    p = parse_params(LatencyParams, latency, "latency")
    frame = check_against_table(table, [arch], p.fidelity_archs(table), p.network_settings())
    checked, anchors = frame.iloc[0], frame[frame["role"] == "anchor"]
    drift = float((anchors["measured_ms"] / anchors["predicted_ms"]).median())
    relative = float(checked["predicted_ms"] * drift / checked["measured_ms"] - 1.0)
    bound = table.fidelity_bound
    if bound is not None:
        within = abs(relative) <= bound
        (logger.info if within else logger.warning)(
            "%s timed in %s: %.3f ms, table %.3f ms; error %+.1f%% after the session's drift (x%.3f), %s the "
            "table's bound of %.1f%% (its largest error when checked, or its noise floor)",
            arch.name, p.runtime, checked["measured_ms"], checked["predicted_ms"], 100 * relative, drift,
            "within" if within else "OUTSIDE", 100 * bound,
        )  # fmt: skip
    return {
        "measured_ms": float(checked["measured_ms"]),
        "raw_measured_ms": float(checked["raw_measured_ms"]),
        "measured_error": float(checked["relative_error"]),
        "session_fidelity": {
            "models": len(anchors),
            "median_abs_error": float(anchors["relative_error"].abs().median()),
            "max_abs_error": float(anchors["relative_error"].abs().max()),
            "session_drift": drift,
            "relative_error": relative,
        },
        "timed_in": p.runtime,
        "fidelity_bound": bound,
        "within_fidelity_bound": None if bound is None else abs(relative) <= bound,
    }
