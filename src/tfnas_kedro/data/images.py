"""Finding and checking the images of a data set: ImageFolder trees and ``path label`` list files.

Bad input never reaches training: a missing root or split is an error naming the path, empty
class folders are an error or an explicit skip, and unreadable, truncated or non-image files are
skipped and listed with the reason.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

FILE_COLUMNS = ["split", "label", "path"]


@dataclass
class ImageTree:
    """The files a data source offers, before any image is opened."""

    root: str
    files: pd.DataFrame  # split, label, path (absolute)
    empty_classes: list[tuple[str, str]] = field(default_factory=list)  # (split, label) without any file


def scan_image_folder(root: str | Path, splits: list[str], optional_splits: tuple[str, ...] = ()) -> ImageTree:
    """Every file under ``root/<split>/<class>/`` (ImageNet's and torchvision's ImageFolder layout).

    Each of ``splits`` must exist; each of ``optional_splits`` (e.g. a held-out ``test``) is read
    when its folder exists and passed over when it does not."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} does not exist (or is not a folder)")
    rows, empty = [], []
    for split in [*splits, *optional_splits]:
        split_dir = root / split
        if split in optional_splits and not split_dir.exists():
            logger.info("no %s folder under %s: the data set has no %r split", split, root, split)
            continue
        if not split_dir.is_dir():
            raise FileNotFoundError(
                f"split folder {split_dir} does not exist (expected {root}/<split>/<class>/<image>)"
            )
        class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
        if not class_dirs:
            raise FileNotFoundError(f"split folder {split_dir} has no class folders")
        for class_dir in class_dirs:
            files = sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not files:
                empty.append((split, class_dir.name))
            rows.extend((split, class_dir.name, str(p.resolve())) for p in files)
    return ImageTree(str(root.resolve()), pd.DataFrame(rows, columns=FILE_COLUMNS), empty)


def read_list_files(root: str | Path, list_files: dict[str, str | Path]) -> ImageTree:
    """Files named by ``<path> <label>`` lines (paths relative to ``root``), one list file per split."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} does not exist (or is not a folder)")
    rows = []
    for split, list_file in list_files.items():
        list_path = root / list_file
        if not list_path.is_file():
            raise FileNotFoundError(f"list file for split {split!r} not found: {list_path}")
        for number, line in enumerate(list_path.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{list_path}:{number}: expected '<path> <label>', got {line!r}")
            rows.append((split, parts[1], str((root / parts[0]).resolve())))
    return ImageTree(str(root.resolve()), pd.DataFrame(rows, columns=FILE_COLUMNS))


def _inspect(path: str, full: bool) -> tuple[int, int, str, str]:
    """(width, height, mode, problem); decoding the whole image catches truncated files."""
    try:
        with Image.open(path) as image:
            if full:
                image.load()
            else:
                image.verify()
            return image.width, image.height, image.mode, ""
    except UnidentifiedImageError:
        return 0, 0, "", "not an image"
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        return 0, 0, "", f"unreadable: {err}"


def inspect_images(tree: ImageTree, *, empty_classes: str = "skip", verify: str = "full", workers: int = 4):
    """Open every file once. Returns ``(index, skipped)``.

    ``index``: split, label, path, width, height, mode of every readable image (modes other than
    RGB are converted when loaded). ``skipped``: split, label, path, reason of everything left out.
    """
    if empty_classes not in ("skip", "error"):
        raise ValueError(f"empty_classes must be 'skip' or 'error', got {empty_classes!r}")
    if verify not in ("full", "header"):
        raise ValueError(f"verify must be 'full' or 'header', got {verify!r}")
    if tree.empty_classes and empty_classes == "error":
        listed = ", ".join(f"{tree.root}/{s}/{c}" for s, c in tree.empty_classes[:5])
        raise ValueError(f"{len(tree.empty_classes)} class folder(s) without images: {listed}")
    files = tree.files
    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL decodes outside the GIL
        results = list(pool.map(lambda p: _inspect(p, verify == "full"), files["path"], chunksize=64))
    info = pd.DataFrame(results, columns=["width", "height", "mode", "reason"], index=files.index)
    checked = pd.concat([files, info], axis=1)
    ok = checked["reason"] == ""
    index = checked[ok].drop(columns="reason").reset_index(drop=True)
    skipped = checked[~ok][FILE_COLUMNS + ["reason"]]
    empties = pd.DataFrame(
        [(s, c, f"{tree.root}/{s}/{c}", "empty class folder") for s, c in tree.empty_classes],
        columns=FILE_COLUMNS + ["reason"],
    )
    skipped = pd.concat([skipped, empties], ignore_index=True)
    # a class whose every image is unreadable is as empty as an empty folder
    for split, labels in files.groupby("split")["label"]:
        lost = set(labels) - set(index.loc[index["split"] == split, "label"])
        if lost and empty_classes == "error":
            raise ValueError(f"class(es) {sorted(lost)} of split {split!r} have no readable image")
    if len(skipped):
        logger.warning(
            "skipped %d of %d files: %s",
            len(skipped),
            len(files),
            skipped["reason"].str.split(":").str[0].value_counts().to_dict(),
        )
    return index, skipped
