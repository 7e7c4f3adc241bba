"""A catalog entry that may not have been produced yet: loads ``None`` instead of failing."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset
from kedro.io.core import DatasetError, Version


class OptionalDataset(AbstractDataset[Any, Any]):
    """Wraps another dataset's configuration (``dataset:``); ``load()`` gives ``None`` when it has
    nothing to load (the pipeline that writes it has not run), so a reader such as the report can
    leave a section out instead of stopping. With ``versioned: true`` the latest version is read,
    or the one pinned with ``--load-versions <this entry>:<version>``.

    ```yaml
    optional_search_history:
      type: tfnas_kedro.datasets.OptionalDataset
      dataset: *search_history     # a YAML anchor on the real entry
      versioned: true
    ```
    """

    def __init__(self, *, dataset: dict[str, Any], version: Version | None = None, metadata: dict | None = None):
        config = {k: v for k, v in dataset.items() if k != "metadata"}
        versioned = bool(config.pop("versioned", False)) or version is not None
        if versioned:
            config["versioned"] = True
        self._inner = AbstractDataset.from_config(
            "optional", config, load_version=version.load if version else None, save_version=None
        )
        self.metadata = metadata

    def load(self) -> Any:
        try:
            present = self._inner.exists()
        except DatasetError:  # e.g. a versioned dataset with no version yet
            present = False
        return self._inner.load() if present else None  # a corrupt file still fails loudly

    def save(self, data: Any) -> None:
        raise DatasetError("OptionalDataset is read-only: save through the entry it wraps")

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._inner._describe()}
