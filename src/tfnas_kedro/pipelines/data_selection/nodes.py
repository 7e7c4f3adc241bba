"""Nodes of the ``data_selection`` pipeline (docs/method.md section 11)."""

from __future__ import annotations

import logging
import time

import pandas as pd
import plotly.graph_objects as go
from PIL import Image

from tfnas_kedro.data import ranking
from tfnas_kedro.data.demo import generate_demo_images
from tfnas_kedro.data.images import ImageTree, inspect_images
from tfnas_kedro.data.pretrained import load_ranker
from tfnas_kedro.nas.errors import ConfigError
from tfnas_kedro.params import DataParams, DemoDataParams, RankingParams, SelectionParams, parse_params
from tfnas_kedro.runtime import resolve_device

logger = logging.getLogger(__name__)


def draw_demo_images(data: dict, demo: dict) -> dict[str, Image.Image]:
    """The embedded demo images when ``data.source`` is ``demo``; nothing otherwise."""
    if parse_params(DataParams, data, "data").source != "demo":
        return {}
    p = parse_params(DemoDataParams, demo, "demo_data")
    started = time.perf_counter()
    images = generate_demo_images(
        p.num_classes, p.train_per_class, p.val_per_class, p.image_size, p.seed, test_per_class=p.test_per_class
    )
    logger.info(
        "drew %d demo images of %d classes (%d train, %d val, %d test each) in %.1f s",
        len(images), p.num_classes, p.train_per_class, p.val_per_class, p.test_per_class,
        time.perf_counter() - started,
    )  # fmt: skip
    return images


def index_images(tree: ImageTree, data: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open every file once: the index of readable images, and the report of what was skipped and why."""
    p = parse_params(DataParams, data, "data")
    index, skipped = inspect_images(tree, empty_classes=p.empty_classes, verify=p.verify, workers=p.workers)
    if index.empty:
        raise ValueError(f"no readable image under {tree.root}")
    counts = index.groupby("split")["label"].agg(["size", "nunique"]).to_dict("index")
    logger.info("indexed %s; skipped %d files", counts, len(skipped))
    return index, skipped


def score_training_images(index: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Score every training image with the pretrained ranker (top-1 for ImageNet labels, else a probe)."""
    p = parse_params(RankingParams, params, "ranking")
    classifier = load_ranker(p.model, p.checkpoint)
    train = index[index["split"] == "train"]
    started = time.perf_counter()
    scores = ranking.score_images(
        train,
        classifier,
        labels=p.labels,
        resolution=p.resolution,
        batch_size=p.batch_size,
        workers=p.workers,
        device=resolve_device(p.device),
        probe_folds=p.probe_folds,
        seed=p.seed,
    )
    seconds = time.perf_counter() - started
    logger.info(
        "scored %d images with %s in %.1f s (%.1f images/s)", len(scores), p.model, seconds, len(scores) / seconds
    )
    return scores


def rank_classes(scores: pd.DataFrame) -> pd.DataFrame:
    return ranking.rank_classes(scores)


def select_classes(class_ranking: pd.DataFrame, params: dict) -> pd.DataFrame:
    p = parse_params(SelectionParams, params, "selection")
    if p.num_groups > len(class_ranking):
        raise ConfigError(
            f"params:selection.num_groups is {p.num_groups}, but the data has {len(class_ranking)} classes to "
            f"group: set selection.num_groups to at most {len(class_ranking)} "
            f'(kedro run --params "selection.num_groups={len(class_ranking)}", or in conf/local)'
        )
    selection = ranking.select_classes(class_ranking, p.num_groups, p.seed)
    chosen = selection[selection["selected"]]
    logger.info(
        "selected %d of %d classes, accuracy %.2f..%.2f",
        len(chosen),
        len(selection),
        chosen["accuracy"].min(),
        chosen["accuracy"].max(),
    )
    return selection


def split_selected_classes(index: pd.DataFrame, selection: pd.DataFrame, params: dict) -> pd.DataFrame:
    p = parse_params(SelectionParams, params, "selection")
    split = ranking.split_for_search(
        index,
        selection,
        arch_fraction=p.arch_fraction,
        seed=p.seed,
        test_source=p.test_source,
        test_fraction=p.test_fraction,
    )
    test = split[split["split"] == "test"]
    per_class = test.groupby("label").size()
    logger.info(
        "search split: %s; test split (held out: never read by search, selection or training) %s: "
        "%d images, %d..%d per class, top-1 standard error up to %.3f",
        split["split"].value_counts().to_dict(),
        {"folder": "from the data set's test folder", "val": "carved from val"}[
            ranking.resolve_test_source(index, p.test_source, p.test_fraction)
        ],
        len(test),
        per_class.min(),
        per_class.max(),
        0.5 / len(test) ** 0.5,
    )
    return split


def plot_class_accuracy(selection: pd.DataFrame) -> go.Figure:
    """Per-class accuracy in rank order, selected classes highlighted, group boundaries shaded."""
    table = selection.sort_values("rank")
    colours = ["#d62728" if s else "#9ecae1" for s in table["selected"]]
    figure = go.Figure(
        go.Bar(
            x=table["label"],
            y=table["accuracy"],
            marker_color=colours,
            customdata=table[["group", "images"]],
            hovertemplate="%{x}<br>accuracy %{y:.3f}<br>group %{customdata[0]}, %{customdata[1]} images<extra></extra>",
        )
    )
    for group, members in table.groupby("group"):
        if group % 2:
            figure.add_vrect(
                x0=members["rank"].min() - 0.5,
                x1=members["rank"].max() + 0.5,
                fillcolor="grey",
                opacity=0.12,
                line_width=0,
            )
    method = "per-class accuracy of the pretrained ranker"
    figure.update_layout(
        title=f"Class ranking: {method}; red = selected (one per group of {len(table) // table['group'].nunique()})",
        xaxis_title="class (easiest first)",
        yaxis_title="accuracy",
        yaxis_range=[0, 1.02],
        template="plotly_white",
    )
    return figure
