"""The twelve architectures published with TF-NAS, as data (``zoo.json`` beside this file)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from .arch import ArchDescription, architectures_from_dict
from .errors import ConfigError

_ZOO_FILE = Path(__file__).with_name("zoo.json")


@cache
def _zoo() -> dict[str, ArchDescription]:
    return architectures_from_dict(json.loads(_ZOO_FILE.read_text()), prefix="zoo.")


def zoo_names() -> list[str]:
    """Names in publication order: TF-NAS-A ... TF-NAS-D, the no-SE, CPU and MobileNetV2-space models."""
    return list(_zoo())


def zoo_arch(name: str, *, num_classes: int | None = None, resolution: int | None = None) -> ArchDescription:
    """A published architecture by name, optionally re-headed for another number of classes."""
    try:
        arch = _zoo()[name]
    except KeyError:
        raise ConfigError(f"unknown zoo model {name!r} (known: {', '.join(_zoo())})") from None
    changes = {}
    if num_classes is not None:
        changes["num_classes"] = num_classes
    if resolution is not None:
        changes["resolution"] = resolution
    return arch.with_updates(**changes) if changes else arch
