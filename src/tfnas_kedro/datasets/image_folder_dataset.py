"""A folder of images as a catalog entry: loads the list of files, saves generated images."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import DatasetError
from PIL import Image

from tfnas_kedro.data.images import ImageTree, read_list_files, scan_image_folder

# written into folders this dataset generated, so that re-generating may replace them (and only them)
GENERATED_MARKER = ".generated-by-tfnas-kedro"


def replace_generated_folder(path: Path, read_only: bool, what: str, hint: str) -> None:
    """Empty ``path`` for a new generation of ``what``: refused when read-only or when it holds
    anything this project did not generate (``hint`` says what to do instead); a previous
    generation is removed whole, so nothing stale survives."""
    if read_only:
        raise DatasetError(f"{path} is read-only (read_only: true); it cannot receive generated {what}")
    if path.exists() and any(path.iterdir()):
        if not (path / GENERATED_MARKER).exists():
            raise DatasetError(
                f"refusing to write generated {what} into {path}: it holds files this project did not generate ({hint})"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / GENERATED_MARKER).write_text(f"generated {what}; safe to delete\n")


class ImageFolderDataset(AbstractDataset[dict[str, Image.Image], ImageTree]):
    """Raw images: ``<path>/<split>/<class>/<image>`` or ``path label`` list files per split.

    ``load()`` returns an :class:`ImageTree` (the files found, before any is opened; a missing
    root or split is an error naming the path; a split of ``optional_splits``, by default ``test``,
    is read when its folder exists and passed over when it does not). ``save(images)`` writes
    ``{"train/cls/0001": PIL image}`` as JPEG files; an empty mapping writes nothing. It never
    writes into a folder that it did not create itself (real data is safe from the demo
    generator), nor when ``read_only``.

    ```yaml
    raw_images:
      type: tfnas_kedro.datasets.ImageFolderDataset
      path: /data/imagenet            # train/<wnid>/*.JPEG, val/<wnid>/*.JPEG
      splits: [train, val]            # required
      optional_splits: [test]         # read when present (the default); [] for none
      read_only: true
    ```
    """

    def __init__(
        self,
        *,
        path: str,
        layout: str = "imagefolder",
        splits: list[str] | None = None,
        optional_splits: list[str] | None = None,
        list_files: dict[str, str] | None = None,
        read_only: bool = False,
        jpeg_quality: int = 92,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if layout not in ("imagefolder", "list"):
            raise DatasetError(f"layout must be 'imagefolder' or 'list', got {layout!r}")
        if layout == "list" and not list_files:
            raise DatasetError("layout 'list' needs list_files: {train: train.txt, val: val.txt}")
        self._path = Path(path)
        self._layout = layout
        self._splits = list(splits or (list_files or {"train": None, "val": None}).keys())
        if layout == "list" and optional_splits:
            raise DatasetError(
                "optional_splits applies to layout 'imagefolder'; with layout 'list' name every split's file "
                "in list_files (e.g. test: test.txt)"
            )
        if optional_splits is None:  # a held-out test folder is read when there is one
            optional_splits = [] if layout == "list" or "test" in self._splits else ["test"]
        self._optional_splits = list(optional_splits)
        if clash := sorted(set(self._splits) & set(self._optional_splits)):
            raise DatasetError(f"split(s) {clash} are listed in both splits and optional_splits")
        self._list_files = list_files
        self._read_only = read_only
        self._jpeg_quality = jpeg_quality
        self.metadata = metadata

    def load(self) -> ImageTree:
        try:
            if self._layout == "list":
                return read_list_files(self._path, self._list_files)
            return scan_image_folder(self._path, self._splits, tuple(self._optional_splits))
        except (FileNotFoundError, ValueError) as err:
            raise DatasetError(str(err)) from err

    def save(self, data: dict[str, Image.Image]) -> None:
        if not data:
            return
        hint = "point raw_images elsewhere, or set data.source to imagefolder/list for real data"
        replace_generated_folder(self._path, self._read_only, "images", hint)
        for key, image in data.items():
            target = self._path / f"{key}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            image.convert("RGB").save(target, quality=self._jpeg_quality)

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "layout": self._layout,
            "splits": self._splits,
            "optional_splits": self._optional_splits,
            "read_only": self._read_only,
        }
