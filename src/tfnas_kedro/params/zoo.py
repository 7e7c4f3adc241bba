"""``params:zoo``: the ``zoo`` pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Params


class ZooParams(Params):
    models: list[str] | Literal["all"] = "all"
    resolution: int = Field(224, gt=0)
    num_classes: int = Field(1000, gt=0)
