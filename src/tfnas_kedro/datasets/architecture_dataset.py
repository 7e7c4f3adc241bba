"""Architecture descriptions in the catalog: one description, or a name -> description mapping."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO

from kedro.io.core import DatasetError

from tfnas_kedro.nas.arch import ArchDescription, architectures_from_dict, architectures_to_json

from ._fsspec import FsspecVersionedDataset


class ArchitectureDataset(FsspecVersionedDataset):
    """Saves an :class:`ArchDescription` (or a mapping of them) as readable JSON; loads typed objects.

    ```yaml
    searched_architecture:
      type: tfnas_kedro.datasets.ArchitectureDataset
      filepath: data/06_models/searched_architecture.json
      versioned: true
    ```
    """

    def _read(self, stream: IO) -> ArchDescription | dict[str, ArchDescription]:
        raw = json.load(stream)
        if "blocks" in raw:
            return ArchDescription.from_dict(raw, prefix=str(self._filepath))
        return architectures_from_dict(raw, prefix=f"{self._filepath}:")

    def _write(self, data: ArchDescription | Mapping[str, ArchDescription], stream: IO) -> None:
        if isinstance(data, ArchDescription):
            stream.write(data.to_json())
            return
        if not isinstance(data, Mapping) or not all(isinstance(v, ArchDescription) for v in data.values()):
            raise DatasetError(f"{type(self).__name__} saves an ArchDescription or a mapping of them, got {type(data)}")
        stream.write(architectures_to_json(dict(data)))
