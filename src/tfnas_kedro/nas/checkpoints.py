"""Checkpoint files shared by the search and the trainer: atomic saves and readable load errors."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomic(state: dict, path: str | Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash while saving keeps the previous file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, error: type[Exception], map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only``); an unreadable file raises ``error`` naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise error(f"cannot read checkpoint {path}: {err}. Delete it (or set resume: false) to start afresh") from err


def to_cpu(value):
    """``value`` (tensors in dicts and lists) with every tensor on the CPU: what crosses processes."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_cpu(v) for v in value)
    return value
