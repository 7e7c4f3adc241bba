from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image


def write_image(path: Path, mode: str = "RGB", size=(40, 32), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bands = {"RGB": 3, "RGBA": 4, "CMYK": 4, "L": 1}[mode]
    pixels = rng.integers(0, 255, (size[1], size[0], bands), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if bands == 1 else pixels, mode=mode)
    image.save(path)
    return path


def split_table(root: Path, counts: dict[str, int], modes: tuple[str, str], size: tuple[int, int]) -> pd.DataFrame:
    """A two-class image index with ``counts[split]`` images per split, alternating ``modes``."""
    rows = []
    for split, n in counts.items():
        for i in range(n):
            path = write_image(root / split / f"{i}.png", modes[i % 2], size=size, seed=i)
            rows.append({"split": split, "label": f"l{i % 2}", "class_index": i % 2, "path": str(path)})
    return pd.DataFrame(rows)


@pytest.fixture
def image_tree(tmp_path) -> Path:
    """train/{a,b,c}/ with 3 good images each, val/{a,b,c}/ with 1, in several colour modes."""
    root = tmp_path / "images"
    for split, count in (("train", 3), ("val", 1)):
        for c, label in enumerate("abc"):
            for i in range(count):
                mode = ["RGB", "L", "RGBA", "CMYK"][(c + i) % 4]
                suffix = ".jpg" if mode in ("RGB", "L", "CMYK") else ".png"
                write_image(root / split / label / f"{i}{suffix}", mode, seed=c * 10 + i)
    return root
