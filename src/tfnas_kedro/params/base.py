"""The base of every parameter group, and the one way a node reads its ``params:`` dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from tfnas_kedro.nas.errors import validate_model

P = TypeVar("P", bound=BaseModel)


class Params(BaseModel):
    """Base of every parameter group: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_params(model_cls: type[P], raw: Mapping[str, Any] | P, key: str) -> P:
    """Validate ``raw`` (the ``params:<key>`` dict) into ``model_cls``; errors name ``key.sub.key``."""
    if isinstance(raw, model_cls):
        return raw
    return validate_model(model_cls, dict(raw), prefix=f"params:{key}")
