"""The embedded demo data set: procedurally drawn, seeded, no download.

Each class is a shape drawn in a colour over a textured background. Classes come in confusable
pairs (same shape and texture, close hues); a per-class difficulty widens or narrows the hue gap
within the pair and sets the amount of noise, clutter and scale jitter, so that some classes are
easy and others hard, and a class ranking by a pretrained model is meaningful.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("disc", "square", "triangle", "ring", "cross", "star", "diamond", "bar", "hexagon", "arrow")
TEXTURES = ("plain", "stripes", "checker", "dots", "gradient")


def class_names(num_classes: int) -> list[str]:
    """Stable, readable class names: ``c07_triangle_hue225``."""
    return [
        f"c{c:02d}_{_class_style(c)['shape']}_hue{round(_class_style(c)['hue'] * 360):03d}" for c in range(num_classes)
    ]


def _class_style(c: int) -> dict:
    pair, member = divmod(c, 2)
    # difficulty cycles through [0, 1) so that every group of classes has easy and hard members
    difficulty = ((pair * 7) % 10) / 10 + member * 0.05
    base_hue = (pair * 0.381966) % 1.0  # golden-ratio spacing keeps pairs apart
    hue_gap = 0.02 + 0.18 * (1.0 - difficulty)  # hard pairs are nearly the same colour
    return {
        "shape": SHAPES[pair % len(SHAPES)],
        "texture": TEXTURES[(pair // len(SHAPES) + pair) % len(TEXTURES)],
        "hue": (base_hue + member * hue_gap) % 1.0,
        "difficulty": difficulty,
    }


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    def ring(n: int, radii: list[float], offset: float = 0.0):
        pts = []
        for i in range(n * len(radii)):
            a = angle + offset + 2 * math.pi * i / (n * len(radii))
            rr = r * radii[i % len(radii)]
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts

    if shape == "triangle":
        return ring(3, [1.0])
    if shape in ("square", "diamond"):
        return ring(4, [1.0], math.pi / 4 if shape == "square" else 0.0)
    if shape == "hexagon":
        return ring(6, [1.0])
    if shape == "star":
        return ring(5, [1.0, 0.45])
    if shape == "cross":
        return ring(4, [1.0, 0.38, 0.38], math.pi / 4)
    if shape == "arrow":
        return ring(3, [1.0, 0.3])
    if shape == "bar":
        return ring(2, [1.0, 0.3, 0.3])
    raise ValueError(shape)


def _rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    return tuple(int(255 * v) for v in colorsys.hsv_to_rgb(hue % 1.0, min(max(sat, 0), 1), min(max(val, 0), 1)))


def _background(texture: str, size: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.uniform(0.15, 0.85, size=3)
    other = np.clip(base + rng.uniform(-0.35, 0.35, size=3), 0, 1)
    y, x = np.mgrid[0:size, 0:size] / size
    period = rng.uniform(0.08, 0.2)
    if texture == "stripes":
        mask = (np.sin(2 * np.pi * (x * math.cos(rng.uniform(0, np.pi)) + y) / period) > 0)[..., None]
    elif texture == "checker":
        mask = (((x // period) + (y // period)) % 2 == 0)[..., None]
    elif texture == "dots":
        mask = ((np.hypot((x % period) - period / 2, (y % period) - period / 2)) < period / 4)[..., None]
    elif texture == "gradient":
        mask = x[..., None]
    else:
        mask = np.zeros((size, size, 1))
    return (base * (1 - mask) + other * mask) * 255


def draw_image(class_index: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """One image of class ``class_index`` drawn with ``rng``."""
    style = _class_style(class_index)
    d = style["difficulty"]
    canvas = Image.fromarray(_background(style["texture"], size, rng).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, 1 + round(4 * d)))):  # clutter: small shapes of random colour
        cx, cy, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(0.05, 0.12) * size]
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_rgb(rng.uniform(), rng.uniform(0.3, 1), 0.8))
    r = size * rng.uniform(0.32 - 0.12 * d, 0.38)
    cx, cy = (size / 2 + rng.normal(0, 0.04 + 0.1 * d, 2) * size).tolist()
    hue = style["hue"] + rng.normal(0, 0.01 + 0.02 * d)
    colour = _rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.65, 1.0))
    shape = style["shape"]
    if shape == "disc":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(2, int(r * 0.35)))
    else:
        draw.polygon(_polygon(shape, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=colour)
    if rng.uniform() < d:
        canvas = canvas.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.5)))
    pixels = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 4 + 40 * d, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def generate_demo_images(
    num_classes: int,
    train_per_class: int,
    val_per_class: int,
    image_size: int,
    seed: int,
    test_per_class: int = 0,
) -> dict[str, Image.Image]:
    """``{"<split>/<class>/<index>": image}`` for the splits ``train``, ``val`` and (when
    ``test_per_class`` > 0) ``test``; identical for equal arguments.

    Every (class, split) draws from a generator stream of its own (train 0, val 1, test 2), so
    changing one split's count, or adding the test split, leaves the other splits' images alone.
    """
    if not 2 <= num_classes <= 2 * len(SHAPES) * len(TEXTURES):
        raise ValueError(f"num_classes must be in [2, {2 * len(SHAPES) * len(TEXTURES)}], got {num_classes}")
    if test_per_class < 0:
        raise ValueError(f"test_per_class must be >= 0, got {test_per_class}")
    counts = {"train": train_per_class, "val": val_per_class, "test": test_per_class}
    images = {}
    for c, name in enumerate(class_names(num_classes)):
        for stream, (split, count) in enumerate(counts.items()):
            rng = np.random.default_rng([seed, c, stream])
            for i in range(count):
                images[f"{split}/{name}/{i:04d}"] = draw_image(c, rng, image_size)
    return images
