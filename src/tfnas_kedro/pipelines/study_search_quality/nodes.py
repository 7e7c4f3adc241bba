"""Nodes of the ``study_search_quality`` pipeline: is the searched architecture better than random
architectures of the same latency? Each target's searched architecture, ``random_architectures``
random ones scaled to its table latency, and the published model closest to it are retrained with
one recipe and budget; the table and figure set their top-1 side by side."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from pydantic import Field

from tfnas_kedro.nas import ArchDescription, count_macs, count_params, load_search_spaces
from tfnas_kedro.nas.baselines import closest_zoo_model, random_architecture
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.params import Params, parse_params
from tfnas_kedro.reporting import search_quality

logger = logging.getLogger(__name__)


class SearchQualityParams(Params):
    """``params:studies.search_quality``."""

    title: str = "Searched vs random architectures at equal latency"
    targets: dict[str, dict] = Field(min_length=1)  # name -> {fraction | latency_ms}, as params:target
    search: dict = Field(default_factory=dict)  # params:search overrides for the study's searches
    train: dict = Field(default_factory=dict)  # params:train overrides: one recipe for every candidate
    random_architectures: int = Field(3, ge=1)
    seed: int = 0


def study_search_settings(search: dict, study: dict) -> dict:
    """``params:search`` updated with the study's ``search`` (the schedule whose supernet learns),
    checkpoints in a folder of the study's own."""
    p = parse_params(SearchQualityParams, study, "studies.search_quality")
    settings = {**copy.deepcopy(dict(search)), **copy.deepcopy(p.search)}
    folder = Path(settings.get("checkpoint_dir", "data/06_models/search_checkpoints"))
    settings["checkpoint_dir"] = str(folder / "search_quality")
    return settings


def study_train_settings(train: dict, study: dict) -> dict:
    """``params:train`` updated with the study's ``train``: every candidate trains the same way."""
    p = parse_params(SearchQualityParams, study, "studies.search_quality")
    return {**copy.deepcopy(dict(train)), **copy.deepcopy(p.train)}


def pick_candidates(
    searched: ArchDescription, target: dict, table: LatencyTable, settings: dict, search_spaces: dict, study: dict
) -> tuple:
    """The candidates of one target, all priced on ``table``: the searched architecture, random
    architectures fitted by elasticity-scaling to the searched one's table latency (within 1% below
    it), and the published model closest to it. Returns the list of candidates (name, kind, seed,
    description) and each description, searched first, then the random ones, then the zoo model."""
    p = parse_params(SearchQualityParams, study, "studies.search_quality")
    space = load_search_spaces(search_spaces)[settings.get("search_space", "tfnas")]
    searched_ms = table.predict(searched)
    target_ms = target["target_ms"]
    rng = np.random.default_rng([p.seed, round(target_ms * 1000)])
    randoms = [
        random_architecture(table, space, searched_ms, searched.num_classes, rng, name=f"random-{target_ms:.2f}ms-{i}")
        for i in range(p.random_architectures)
    ]
    zoo, zoo_ms = closest_zoo_model(table, searched_ms, searched.num_classes)
    rows = [("searched", None, searched), *[("random", i, a) for i, a in enumerate(randoms)], ("zoo", None, zoo)]
    listing = [
        {"key": candidate_key(kind, seed), "name": a.name, "kind": kind, "seed": seed, "table_ms": table.predict(a),
         "architecture": a.model_dump(mode="json")}
        for kind, seed, a in rows
    ]  # fmt: skip
    logger.info(
        "target %.3f ms: searched %.3f ms, random %s ms, %s %.3f ms",
        target_ms, searched_ms, ", ".join(f"{r['table_ms']:.3f}" for r in listing[1:-1]), zoo.name, zoo_ms,
    )  # fmt: skip
    return listing, *(a for _, _, a in rows)


def summarise_search_quality(study: dict, **inputs) -> tuple[pd.DataFrame, go.Figure]:
    """One row per retrained candidate (``<target>_candidates``, ``<target>_summary`` and
    ``<target>_<candidate>_metrics`` in ``inputs``): target, kind, seed, table ms, MACs, parameters,
    top-1; and the figure of top-1 against table latency."""
    p = parse_params(SearchQualityParams, study, "studies.search_quality")
    rows = []
    for target in p.targets:
        summary = inputs[f"{target}_summary"]
        for candidate in inputs[f"{target}_candidates"]:
            metrics = inputs[f"{target}_{candidate['key']}_metrics"]
            arch = ArchDescription.model_validate(candidate["architecture"])
            rows.append({
                "target": target, "target_ms": summary["target_ms"], "kind": candidate["kind"],
                "seed": candidate["seed"], "name": candidate["name"], "table_ms": candidate["table_ms"],
                "macs_m": count_macs(arch) / 1e6, "params_m": count_params(arch) / 1e6, "top1": metrics["top1"],
                "top5": metrics["top5"], "supernet_learned": summary["supernet"]["learned"],
            })  # fmt: skip
    table = pd.DataFrame(rows)
    for target, group in table.groupby("target", sort=False):
        searched = group.loc[group["kind"] == "searched", "top1"].iloc[0]
        random = group.loc[group["kind"] == "random", "top1"]
        logger.info(
            "%s: searched top-1 %.3f, random %.3f (min %.3f, max %.3f)",
            target, searched, random.mean(), random.min(), random.max(),
        )  # fmt: skip
    return table, search_quality(table)


def candidate_key(kind: str, seed: int | None) -> str:
    """The namespace of a candidate within its target: ``searched``, ``random_<seed>``, ``zoo``."""
    return kind if kind != "random" else f"random_{seed}"


def candidate_keys(random_architectures: int) -> list[str]:
    return ["searched", *[candidate_key("random", i) for i in range(random_architectures)], "zoo"]
