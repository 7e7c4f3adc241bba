"""CIFAR-10/100 roots as a catalog entry: loads a handle that opens the splits, saves generated sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

from tfnas_kedro.data.cifar import cifar_format, download_cifar, missing_files, open_cifar, write_cifar

from .image_folder_dataset import replace_generated_folder


@dataclass(frozen=True)
class CifarRoot:
    """A folder holding ``cifar-10-batches-py/`` and/or ``cifar-100-python/`` (torchvision's layout)."""

    root: str
    download: bool = False
    entry: str = "cifar_raw"  # the catalog entry, named in errors

    def open(self, name: str, train: bool, transform=None):
        """The split as a torch Dataset; downloads first when allowed and the files are missing."""
        if missing_files(self.root, name) and self.download:
            download_cifar(self.root, name)
        missing = missing_files(self.root, name)
        if missing:
            fmt = cifar_format(name)
            raise FileNotFoundError(
                f"{fmt.title} not found under {Path(self.root) / fmt.folder} (missing {', '.join(missing)}) and "
                f"downloads are off. Download it with `--params cifar_download=true` (or `download: true` on the "
                f"catalog entry {self.entry}), or point at an existing root with `--params cifar_root=/path`"
            )
        return open_cifar(self.root, name, train, transform)


class CifarRootDataset(AbstractDataset[dict, CifarRoot]):
    """``load()`` returns a :class:`CifarRoot`; ``save({"cifar10": ((x, y), (x, y), names)})`` writes
    generated sets in CIFAR's format (an empty mapping writes nothing). Like the image folders, it
    never writes into a folder it did not create.

    ```yaml
    cifar_raw:
      type: tfnas_kedro.datasets.CifarRootDataset
      root: /data/cifar            # holds cifar-10-batches-py/ and cifar-100-python/
      download: true               # fetch with torchvision when missing (needs internet)
    ```
    """

    def __init__(
        self,
        *,
        root: str,
        download: bool | str = False,
        read_only: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._root = Path(root)
        self._download = str(download).lower() in ("true", "1", "yes")  # runtime params arrive as strings
        self._read_only = read_only
        self.metadata = metadata

    def load(self) -> CifarRoot:
        return CifarRoot(str(self._root), self._download)

    def save(self, data: dict[str, tuple]) -> None:
        if not data:
            return
        hint = "set transfer.data to real to read them"
        replace_generated_folder(self._root, self._read_only, "CIFAR-format sets", hint)
        for name, (train, test, class_names) in data.items():
            write_cifar(self._root, name, tuple(map(np.asarray, train)), tuple(map(np.asarray, test)), class_names)

    def _describe(self) -> dict[str, Any]:
        return {"root": str(self._root), "download": self._download, "read_only": self._read_only}
