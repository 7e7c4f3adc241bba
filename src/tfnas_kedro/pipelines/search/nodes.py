"""Nodes of the ``search`` pipeline (tfnas-method.md sections 3-8)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import torch
from pydantic import Field, model_validator

from tfnas_kedro.data.loaders import make_loader
from tfnas_kedro.nas import ArchDescription, count_macs, count_params, load_search_spaces
from tfnas_kedro.nas.elastic import fit_to_target
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.search import SearchConfig, Searcher, SearchError
from tfnas_kedro.nas.supernet import architecture_from_choices, strongest_choices
from tfnas_kedro.params import Params, parse_params
from tfnas_kedro.pipelines.latency.nodes import LatencyParams, measure_against_table
from tfnas_kedro.reporting import architecture_drawing, search_latency, search_probabilities
from tfnas_kedro.runtime import resolve_device

logger = logging.getLogger(__name__)


class TargetParams(Params):
    latency_ms: float | None = Field(None, gt=0, description="absolute target; overrides `fraction`")
    fraction: float | None = Field(0.5, ge=0.0, le=1.0, description="of the table's reachable range")

    @model_validator(mode="after")
    def _one(self) -> TargetParams:
        if self.latency_ms is None and self.fraction is None:
            raise ValueError("set latency_ms (ms) or fraction (of the reachable range)")
        return self


class SearchParams(SearchConfig):
    """``params:search``: the method's settings (:class:`SearchConfig`) and how to run them. The
    target comes from ``params:target`` through :func:`resolve_target`."""

    target_ms: float | None = None
    search_space: str = "tfnas"
    device: str = "auto"
    input_size: int = Field(224, ge=16)
    batch_size: int = Field(32, ge=2)
    workers: int = Field(0, ge=0)
    checkpoint_dir: str = "data/06_models/search_checkpoints"
    resume: bool = True
    measure_latency: bool = True  # time the derived network on the table's device for the summary

    def config(self, target_ms: float) -> SearchConfig:
        method = self.model_dump(include=set(SearchConfig.model_fields) - {"target_ms"})
        return SearchConfig(target_ms=target_ms, **method)


def _space(p: SearchParams, search_spaces: dict):
    spaces = load_search_spaces(search_spaces)
    if p.search_space not in spaces:
        raise ValueError(f"params:search.search_space: unknown space {p.search_space!r} (known: {sorted(spaces)})")
    return spaces[p.search_space]


def resolve_target(table: LatencyTable, search: dict, target: dict, latency: dict, search_spaces: dict) -> dict:
    """The target in ms, checked against what the space can reach on this table, before any training.

    The table must be the one the configuration asks for: measured on ``latency.device``, at the
    search's input size, for the search's space; otherwise the mismatch is named.
    """
    p, t = parse_params(SearchParams, search, "search"), parse_params(TargetParams, target, "target")
    space = _space(p, search_spaces)
    device = str(resolve_device(parse_params(LatencyParams, latency, "latency").device))
    table.check_device(device, resolution=p.input_size, space=space.name)
    low, high = table.reachable_range(space)
    target_ms = t.latency_ms if t.latency_ms is not None else low + t.fraction * (high - low)
    if not low <= target_ms <= high:
        raise SearchError(
            f"target {target_ms:.3f} ms is outside the reachable range {low:.3f}..{high:.3f} ms of space "
            f"{space.name!r} on {table.meta.device_name} ({table.meta.device}, input {table.meta.resolution})"
        )
    resolved = {
        "target_ms": float(target_ms),
        "requested_ms": t.latency_ms,
        "fraction": t.fraction if t.latency_ms is None else None,
        "reachable_ms": [float(low), float(high)],
        "space": space.name,
        "device": table.meta.device,
        "device_name": table.meta.device_name,
    }
    logger.info("latency target %.3f ms (reachable %.3f..%.3f ms)", target_ms, low, high)
    return resolved


def run_search(
    split: pd.DataFrame, table: LatencyTable, target: dict, search: dict, search_spaces: dict
) -> tuple[dict, pd.DataFrame]:
    """Train the supernet and learn alpha/beta; resumes from ``checkpoint_dir`` when it holds a run."""
    p = parse_params(SearchParams, search, "search")
    device = resolve_device(p.device)
    num_classes = int(split["class_index"].max()) + 1
    if num_classes != table.meta.num_classes:
        raise SearchError(
            f"the search split has {num_classes} classes but the latency table's classifier has "
            f"{table.meta.num_classes}; set latency.num_classes to {num_classes}"
        )
    # one folder per search: a rerun of the same target and seed resumes, another starts afresh
    checkpoints = Path(p.checkpoint_dir) / f"{p.search_space}-{target['target_ms']:.4f}ms-seed{p.seed}"
    searcher = Searcher(
        _space(p, search_spaces), table, num_classes, p.config(target["target_ms"]), device, checkpoints
    )
    if p.resume:
        searcher.resume()
    loaders = {
        split_name: make_loader(
            split, split_name, input_size=p.input_size, batch_size=p.batch_size, workers=p.workers, seed=p.seed
        )
        for split_name in ("weights", "arch", "val")
    }
    history = searcher.run(loaders["weights"], loaders["arch"], loaders["val"])
    return searcher.state_dict(), pd.DataFrame(history)


def derive_searched_architecture(
    checkpoint: dict, table: LatencyTable, target: dict, search: dict, latency: dict, search_spaces: dict
) -> tuple[ArchDescription, dict]:
    """The strongest op per layer and depth per stage at the widths that meet the target exactly."""
    p = parse_params(SearchParams, search, "search")
    space = _space(p, search_spaces).at_resolution(table.meta.resolution)
    alpha, beta, widths = checkpoint["alpha"], checkpoint["beta"], checkpoint["widths"]
    num_classes = checkpoint["identity"]["num_classes"]
    target_ms = target["target_ms"]
    depths, ops = strongest_choices(space, alpha, beta)
    scaling, notes = None, []
    if p.elasticity:
        depth_probs = [torch.softmax(b, 0).tolist() for b in beta]
        op_probs = [torch.softmax(a, 0).tolist() for a in alpha]
        depths, ops, scaling, notes = fit_to_target(table, space, depth_probs, op_probs, depths, ops, widths, target_ms)
        widths = scaling.widths
    arch = architecture_from_choices(space, depths, ops, widths, num_classes, name=f"searched-{target_ms:.2f}ms")
    predicted = table.predict(arch)
    summary = {
        "name": arch.name,
        "target_ms": target_ms,
        "table_ms": predicted,
        "gap": (target_ms - predicted) / target_ms,
        "target_met": predicted <= target_ms,
        "elasticity_message": None if scaling is None else scaling.message,
        "fallback_changes": notes,
        "macs_m": count_macs(arch) / 1e6,
        "params_m": count_params(arch) / 1e6,
        "blocks": len(arch.blocks),
        "device": table.meta.device,
        "device_name": table.meta.device_name,
        "reachable_ms": target["reachable_ms"],
        "epochs": checkpoint["epoch"],
    }
    if p.measure_latency:  # timed among the table's fidelity models, as the table's error was measured
        summary |= measure_against_table(table, arch, latency)
    if not summary["target_met"]:
        logger.warning("derived architecture misses the target: %.3f ms > %.3f ms", predicted, target_ms)
    logger.info(
        "derived %s: %.3f ms on the table for a %.3f ms target, %.1fM MACs",
        arch.name,
        predicted,
        target_ms,
        summary["macs_m"],
    )
    return arch, summary


def plot_search(
    history: pd.DataFrame, arch: ArchDescription, target: dict, search_spaces: dict, search: dict
) -> tuple[go.Figure, go.Figure, go.Figure]:
    """Latency per epoch against the target; alpha/beta over epochs; the result layer by layer."""
    p = parse_params(SearchParams, search, "search")
    stages = [pos.stage for pos in _space(p, search_spaces).positions()]
    return (
        search_latency(history, target["target_ms"]),
        search_probabilities(history, stages),
        architecture_drawing(arch),
    )
