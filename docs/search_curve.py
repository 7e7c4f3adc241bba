"""Draw a search history as a small SVG for the README: weight loss, validation top-1 and the
entropy of alpha per epoch, with chance and the "learned" bars. No plotting library needed.

    .venv/bin/python docs/search_curve.py data/07_model_output/search_history.parquet/<version>/search_history.parquet \
        docs/search_demo_learning.svg --classes 10 --title "learning schedule, 25% target: 180 epochs, 33 min"
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

WIDTH, HEIGHT, PAD = 300, 210, 50
COLOURS = ["#4c78a8", "#f58518", "#54a24b"]


def panel(x0: int, title: str, series: dict[str, list[float]], lines: dict[str, float], top: float, warm: int) -> str:
    """One chart: ``series`` (name -> value per epoch) and dotted ``lines`` (label -> y) on 0..top."""
    epochs = max(len(v) for v in series.values())

    def xy(i: float, y: float) -> tuple[float, float]:
        return x0 + PAD + (WIDTH - PAD - 10) * i / max(1, epochs - 1), HEIGHT - PAD - (HEIGHT - PAD - 30) * y / top

    parts = [f'<text x="{x0 + WIDTH / 2}" y="18" text-anchor="middle" font-weight="bold">{title}</text>']
    if warm:
        (left, _), (right, _) = xy(0, 0), xy(warm - 0.5, 0)
        parts.append(f'<rect x="{left}" y="30" width="{right - left}" height="{HEIGHT - PAD - 30}" fill="#eee"/>')
    (left, bottom), (right, upper) = xy(0, 0), xy(epochs - 1, top)
    parts.append(f'<path d="M{left},{upper} V{bottom} H{right}" stroke="#333" fill="none"/>')
    for tick in (0, top / 2, top):
        _, y = xy(0, tick)
        parts.append(f'<text x="{left - 4}" y="{y + 4}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{right}" y="{bottom + 16}" text-anchor="end">epoch {epochs}</text>')
    for label, value in lines.items():
        _, y = xy(0, value)
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y}" y2="{y}" stroke="#999" stroke-dasharray="3,3"/>')
        below = value < top / 2  # low lines: label under the line, where the rising curves are not
        parts.append(f'<text x="{right}" y="{y + 12 if below else y - 3}" text-anchor="end" fill="#777">{label}</text>')
    for k, (name, values) in enumerate(series.items()):
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(i, v) for i, v in enumerate(values) if v == v))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{COLOURS[k]}" stroke-width="1.6"/>')
        parts.append(f'<text x="{left + 6}" y="{bottom + 16 + 13 * k}" fill="{COLOURS[k]}">{name}</text>')
    return "\n".join(parts)


def draw(history: pd.DataFrame, classes: int, title: str) -> str:
    warm = int((~history["scaled"].astype(bool)).sum())
    chance = math.log(classes)
    panels = [
        panel(0, "weight loss", {"mean of the two paths": list(history["weight_loss"]),
                                 "path drawn from alpha": list(history["alpha_path_loss"]),
                                 "path of other ops": list(history["other_path_loss"])},
              {f"chance ln {classes}": chance, "learned: 0.75 x chance": 0.75 * chance}, 2.5, warm),
        panel(WIDTH, "val top-1 (derived ops)", {"sink-connected": list(history["val_top1"]),
                                                 "argmax depth": list(history["val_top1_single_depth"])},
              {"chance": 1 / classes, "3 x chance": 3 / classes}, 1.0, warm),
        panel(2 * WIDTH, "entropy of alpha (ops)", {"mean over layers": list(history["alpha_entropy"])},
              {"uniform: ln 8": math.log(8)}, 2.5, warm),
    ]  # fmt: skip
    total = 3 * WIDTH
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="{HEIGHT + 40}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>{"".join(panels)}'
        f'<text x="{total / 2}" y="{HEIGHT + 30}" text-anchor="middle">{title} (warm-up shaded)</text></svg>'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--title", default="search")
    args = parser.parse_args()
    args.output.write_text(draw(pd.read_parquet(args.history), args.classes, args.title))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
