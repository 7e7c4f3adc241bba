"""Typed node outputs (:mod:`tfnas_kedro.artifacts`) in the catalog, as readable JSON."""

from __future__ import annotations

from typing import IO

from kedro.io.core import DatasetError
from kedro.utils import load_obj
from pydantic import BaseModel, ValidationError

from ._fsspec import FsspecVersionedDataset


class ModelJSONDataset(FsspecVersionedDataset):
    """Saves a pydantic model as JSON and loads it back as the model named by ``model``.

    ```yaml
    search_target:
      type: tfnas_kedro.datasets.ModelJSONDataset
      model: tfnas_kedro.artifacts.SearchTarget
      filepath: data/05_model_input/search_target.json
      versioned: true
    ```
    """

    def __init__(self, *, model: str, **kwargs) -> None:
        self._model = load_obj(model)
        if not (isinstance(self._model, type) and issubclass(self._model, BaseModel)):
            raise DatasetError(f"{model!r} is not a pydantic model: name one of tfnas_kedro.artifacts")
        super().__init__(**kwargs)

    def _read(self, stream: IO) -> BaseModel:
        try:
            return self._model.model_validate_json(stream.read())
        except ValidationError as error:
            raise DatasetError(f"{self._filepath} is not a {self._model.__name__}: {error}") from error

    def _write(self, data: BaseModel, stream: IO) -> None:
        if not isinstance(data, self._model):
            raise DatasetError(f"{type(self).__name__} of {self._model.__name__} got a {type(data).__name__}")
        stream.write(data.model_dump_json(indent=2))

    def _describe(self) -> dict:
        return {**super()._describe(), "model": self._model.__name__}
