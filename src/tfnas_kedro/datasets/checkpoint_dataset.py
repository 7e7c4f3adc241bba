"""Training checkpoints in the catalog: nested dicts of tensors and plain values, loaded safely."""

from __future__ import annotations

from typing import IO, Any

import torch

from ._fsspec import FsspecVersionedDataset


class TorchCheckpointDataset(FsspecVersionedDataset):
    """``torch.save`` of a checkpoint dict; ``torch.load(weights_only=True)`` so loading runs no code.

    Tensors are loaded on the CPU; move them where they are needed. Keep checkpoints to tensors,
    numbers, strings, lists and dicts: anything else is refused by the safe loader.
    """

    BINARY = True

    def _read(self, stream: IO) -> dict[str, Any]:
        return torch.load(stream, map_location="cpu", weights_only=True)

    def _write(self, data: dict[str, Any], stream: IO) -> None:
        torch.save(data, stream)
