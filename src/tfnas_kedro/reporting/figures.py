"""Figures of the search, the latency table, training and transfer (plotly), from plain tables."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tfnas_kedro.nas import ArchDescription

TEMPLATE = "plotly_white"


def search_latency(history: pd.DataFrame, target_ms: float) -> go.Figure:
    """Expected (architecture steps) and derived-architecture latency per epoch against the target."""
    figure = go.Figure()
    if history["expected_ms"].notna().any():
        figure.add_trace(
            go.Scatter(x=history["epoch"], y=history["expected_ms"], name="expected (arch steps)", mode="lines+markers")
        )
    figure.add_trace(
        go.Scatter(
            x=history["epoch"], y=history["derived_ms"], name="derived architecture (table)", mode="lines+markers"
        )
    )
    figure.add_hline(y=target_ms, line_dash="dash", annotation_text=f"target {target_ms:.2f} ms")
    figure.update_layout(title="Latency during the search", xaxis_title="epoch", yaxis_title="ms", template=TEMPLATE)
    return figure


def search_learning(history: pd.DataFrame, num_classes: int) -> go.Figure:
    """Whether the supernet learns: weight loss against chance (ln classes), the derived ops'
    validation top-1 against chance, and the mean entropy of the op and depth distributions,
    per epoch; the warm-up (no architecture steps) shaded."""
    chance_loss, chance_top1 = math.log(num_classes), 1.0 / num_classes
    figure = make_subplots(
        rows=1, cols=3, subplot_titles=("weight loss", "val top-1 through the supernet", "entropy of alpha and beta")
    )
    epoch = history["epoch"] + 1
    traces = [
        ("weight_loss", "weight loss (mean of the paths)", 1),
        ("alpha_path_loss", "path drawn from alpha", 1),
        ("other_path_loss", "path of other ops (bi-sampling)", 1),
        ("val_top1", "sink-connected stages (as trained)", 2),
        ("val_top1_single_depth", "argmax depth only", 2),
        ("val_top1_random_paths", "random paths (mean of 3)", 2),
        ("alpha_entropy", "alpha (ops), mean over layers", 3),
        ("beta_entropy", "beta (depths), mean over stages", 3),
    ]
    for column, name, col in traces:
        if column in history:
            figure.add_trace(go.Scatter(x=epoch, y=history[column], name=name, mode="lines+markers"), row=1, col=col)
    for y, text, col in (
        (chance_loss, f"chance ln {num_classes}", 1),
        (0.75 * chance_loss, "learned: 0.75 x chance", 1),
        (chance_top1, "chance", 2),
        (3 * chance_top1, "learned: 3 x chance", 2),
        (2 * chance_top1, "random paths learned: 2 x chance", 2),
    ):
        figure.add_hline(y=y, line_dash="dot", line_color="grey", annotation_text=text, row=1, col=col)
    warm = int((~history["scaled"].astype(bool)).sum()) if "scaled" in history else 0
    if warm:
        for col in (1, 2, 3):
            figure.add_vrect(x0=0.5, x1=warm + 0.5, fillcolor="grey", opacity=0.1, line_width=0, row=1, col=col)
    figure.update_layout(title="Does the supernet learn? (warm-up shaded)", template=TEMPLATE, height=420)
    figure.update_xaxes(title_text="epoch")
    return figure


def search_quality(table: pd.DataFrame, stats: pd.DataFrame) -> go.Figure:
    """Test top-1 against table latency per target: every random architecture and every seed of
    the searched one (diverged runs hollow), each arm's mean with its 95% interval (from
    ``stats``), and the published model closest in latency. ``table``: target, kind, table_ms,
    top1, name, run, diverged."""
    figure = go.Figure()
    arms = (("random", "diamond", "#888", "random_top1", "random_low", "random_high"),
            ("searched", "star", "#e45756", "searched_top1", "searched_low", "searched_high"))  # fmt: skip
    for kind, symbol, colour, mean, low, high in arms:
        rows = table[table["kind"] == kind]
        if not len(rows):
            continue
        figure.add_trace(
            go.Scatter(
                x=rows["table_ms"], y=rows["top1"], mode="markers", name=f"{kind} (each run)", text=rows["run"],
                marker={"size": 7, "color": colour, "opacity": 0.5,
                        "symbol": ["circle-open" if d else "circle" for d in rows["diverged"]]},
                hovertemplate="%{text}<br>%{x:.3f} ms, top-1 %{y:.3f}<extra></extra>",
            )
        )  # fmt: skip
        if mean in stats:
            at = rows.groupby("target", sort=False)["table_ms"].mean()
            # numbers, or NaN where a target had too few runs (its columns then hold None)
            arm = stats.set_index("target").reindex(at.index)[[mean, low, high]].apply(pd.to_numeric)
            figure.add_trace(
                go.Scatter(
                    x=at, y=arm[mean], mode="markers", name=f"{kind} (mean, 95% interval)",
                    marker={"size": 14, "symbol": symbol, "color": colour},
                    error_y={"type": "data", "symmetric": False, "array": arm[high] - arm[mean],
                             "arrayminus": arm[mean] - arm[low]},
                )
            )  # fmt: skip
    zoo = table[table["kind"] == "zoo"]
    if len(zoo):
        figure.add_trace(
            go.Scatter(x=zoo["table_ms"], y=zoo["top1"], mode="markers+text", name="zoo", text=zoo["name"],
                       textposition="top center", marker={"size": 12, "symbol": "square", "color": "#4c78a8"})
        )  # fmt: skip
    figure.update_layout(
        title="Searched vs random architectures at equal latency: test top-1, retrained alike",
        xaxis_title="table latency (ms)",
        yaxis_title="top-1 on the test split",
        template=TEMPLATE,
    )
    return figure


def supernet_ranking(table: pd.DataFrame) -> go.Figure:
    """Can the supernet rank? Per target, each searched and random architecture's top-1 through
    the supernet (inherited weights, BatchNorm recalibrated) against its top-1 after retraining
    (the searched one at its seeds' mean); diverged runs left out."""
    figure = go.Figure()
    kept = table[~table["diverged"]].dropna(subset=["supernet_top1"])
    for target, rows in kept.groupby("target", sort=False):
        ranked = rows.groupby(["candidate", "kind"], as_index=False)[["top1", "supernet_top1"]].mean()
        figure.add_trace(
            go.Scatter(
                x=ranked["supernet_top1"], y=ranked["top1"], mode="markers", name=str(target),
                text=ranked["candidate"], marker={"size": 10, "symbol": ["star" if k == "searched" else "circle"
                                                                         for k in ranked["kind"]]},
                hovertemplate="%{text}<br>supernet %{x:.3f}, retrained %{y:.3f}<extra></extra>",
            )
        )  # fmt: skip
    figure.update_layout(
        title="Does the supernet rank architectures as retraining does? (star: searched)",
        xaxis_title="top-1 through the supernet (inherited weights, BatchNorm recalibrated)",
        yaxis_title="top-1 after retraining",
        template=TEMPLATE,
    )
    return figure


def search_probabilities(history: pd.DataFrame, layer_stages: list[int] | None = None) -> go.Figure:
    """P(strongest op) per layer and P(depth) per stage over the epochs."""
    figure = make_subplots(rows=2, cols=1, subplot_titles=("P(op) of the strongest op per layer", "P(depth) per stage"))
    layers = len(history["alpha"].iloc[0])
    for j in range(layers):
        stage = f" (stage {layer_stages[j] + 1})" if layer_stages else ""
        strongest = [max(row[j]) for row in history["alpha"]]
        figure.add_trace(
            go.Scatter(x=history["epoch"], y=strongest, name=f"layer {j}{stage}", mode="lines"), row=1, col=1
        )
    for s, depths in enumerate(history["beta"].iloc[0]):
        for d in range(len(depths)):
            values = [row[s][d] for row in history["beta"]]
            figure.add_trace(
                go.Scatter(x=history["epoch"], y=values, name=f"stage {s + 1} depth {d + 1}", mode="lines"),
                row=2,
                col=1,
            )
    figure.update_layout(title="Operation and depth distributions over the search", template=TEMPLATE, height=800)
    return figure


def architecture_drawing(arch: ArchDescription) -> go.Figure:
    """The architecture layer by layer: one bar per block, height its expanded width, colour its
    kernel, hatched where it has squeeze-excitation; stride-2 blocks marked."""
    colours = {3: "#4c78a8", 5: "#f58518", 7: "#54a24b"}
    figure = go.Figure()
    labels = [f"{i}" for i in range(len(arch.blocks))]
    for kernel in sorted({b.kernel for b in arch.blocks}):
        for se in (False, True):
            idx = [i for i, b in enumerate(arch.blocks) if b.kernel == kernel and bool(b.se) == se]
            if not idx:
                continue
            figure.add_trace(
                go.Bar(
                    x=[labels[i] for i in idx],
                    y=[arch.blocks[i].mid for i in idx],
                    name=f"k{kernel}{' + SE' if se else ''}",
                    marker={"color": colours.get(kernel, "#999"), "pattern": {"shape": "/" if se else ""}},
                    text=[_block_text(arch.blocks[i]) for i in idx],
                    hovertext=[_block_text(arch.blocks[i], long=True) for i in idx],
                )
            )
    for i, b in enumerate(arch.blocks):
        if b.stride == 2:
            figure.add_annotation(x=labels[i], y=b.mid, text="s2", showarrow=False, yshift=12)
    figure.update_layout(
        title=f"{arch.name or 'architecture'}: {len(arch.blocks)} blocks, stem {arch.stem.out}, head {arch.head.out}",
        xaxis={"title": "block", "categoryorder": "array", "categoryarray": labels},
        yaxis_title="expanded width (mid channels)",
        template=TEMPLATE,
        barmode="overlay",
    )
    return figure


def _block_text(b, long: bool = False) -> str:
    if long:
        return f"k{b.kernel} {b.in_}->{b.mid}->{b.out} se{b.se} s{b.stride} {b.act}"
    return f"{b.in_}→{b.out}"


def labelled_points(rows: pd.DataFrame, x: str, y: str, by: str) -> go.Figure:
    """One scatter trace per value of ``by``, every point labelled with its ``name``."""
    figure = go.Figure()
    for value, group in rows.groupby(by, sort=False):
        figure.add_trace(
            go.Scatter(
                x=group[x],
                y=group[y],
                mode="markers+text",
                name=value,
                text=group["name"],
                textposition="top center",
                marker={"size": 9},
            )
        )
    return figure


def latency_fidelity_scatter(rows: pd.DataFrame) -> go.Figure:
    """Predicted (table) vs measured latency, one point per model, with the y = x line.
    ``rows``: name, kind, predicted_ms, measured_ms."""
    figure = labelled_points(rows, "measured_ms", "predicted_ms", "kind")
    top = float(rows[["predicted_ms", "measured_ms"]].max().max()) * 1.1
    figure.add_trace(
        go.Scatter(x=[0, top], y=[0, top], mode="lines", name="y = x", line={"dash": "dash", "color": "grey"})
    )
    figure.update_layout(
        title="Lookup table: predicted vs measured latency",
        xaxis_title="measured ms",
        yaxis_title="predicted ms",
        template=TEMPLATE,
    )
    return figure


HARDWARE = {  # the paper's latency settings, as a reader names them
    "gpu_titan_rtx_bs32": "GPU: Titan RTX, batch 32",
    "cpu_xeon_gold_6130_bs1_1thread": "CPU: Xeon Gold 6130, batch 1, 1 thread",
}


def accuracy_vs_latency(points: pd.DataFrame, here: str) -> go.Figure:
    """Top-1 against latency with what is comparable on shared axes only: one panel of everything
    measured here (``here``: device, runtime, input size), and one panel per hardware setting of
    the paper's published numbers (ImageNet top-1 at the paper's latency). Names are hover text;
    only the searched model and the TF-NAS models carry a label, so labels do not pile up.
    ``points``: name, group, panel (``here`` or the paper's setting), latency_ms, top1_percent."""
    panels = ["here", *[p for p in points["panel"].unique() if p != "here"]]
    titles = [f"Measured here: {here}", *[f"Published by the paper: {HARDWARE.get(p, p)}" for p in panels[1:]]]
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=titles, horizontal_spacing=0.06)
    hover = "%{hovertext}<br>%{x:.2f} ms<br>top-1 %{y:.1f}%<extra>%{fullData.name}</extra>"
    for col, panel in enumerate(panels, start=1):
        for group, rows in points[points["panel"] == panel].groupby("group", sort=False):
            labelled = rows["name"].str.startswith(("TF-NAS", "searched"))
            figure.add_trace(
                go.Scatter(
                    x=rows["latency_ms"],
                    y=rows["top1_percent"],
                    mode="markers+text",
                    name=group,
                    hovertext=rows["name"],
                    hovertemplate=hover,
                    text=rows["name"].where(labelled, ""),
                    textposition="top center",
                    textfont={"size": 10},
                    marker={"size": 9},
                ),
                row=1,
                col=col,
            )
        figure.update_xaxes(title_text="latency (ms)", row=1, col=col)
    figure.update_yaxes(title_text="top-1 (%)", row=1, col=1)
    figure.update_layout(
        title="Accuracy vs latency: comparable only within a panel",
        template=TEMPLATE,
        height=600,
        legend={"orientation": "h", "y": -0.18},
    )
    return figure


def training_curves(history: pd.DataFrame) -> go.Figure:
    """Loss and top-1 per epoch, training and validation."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("loss", "top-1"))
    epoch = history["epoch"] + 1
    for column, name, col in (
        ("train_loss", "train loss", 1),
        ("val_loss", "val loss", 1),
        ("train_top1", "train top-1", 2),
        ("val_top1", "val top-1", 2),
        ("val_top5", "val top-5", 2),
        ("ema_val_top1", "EMA val top-1", 2),
    ):
        if column in history:
            figure.add_trace(go.Scatter(x=epoch, y=history[column], name=name, mode="lines+markers"), row=1, col=col)
    figure.update_layout(title="Training curves", xaxis_title="epoch", template=TEMPLATE)
    return figure


def transfer_figure(table: pd.DataFrame) -> go.Figure:
    """The transfer table (model, source, top-1 per data set) as a plotly table."""
    columns = list(table.columns)
    figure = go.Figure(
        go.Table(
            header={"values": [c.replace("_top1_percent", " top-1 %") for c in columns]},
            cells={"values": [table[c].astype(object).where(table[c].notna(), "").tolist() for c in columns]},
        )
    )
    figure.update_layout(title="Transfer: top-1 after fine-tuning", template=TEMPLATE)
    return figure


def unavailable(name: str, reason: str) -> go.Figure:
    """A stand-in for a figure whose artifacts are missing: an empty plot that says why."""
    figure = go.Figure()
    figure.add_annotation(
        text=f"{name}: not available ({reason})", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    figure.update_layout(title=f"{name} (not available)", template=TEMPLATE)
    return figure
