"""Scoring a network on held-out images, and BatchNorm recalibration before it.

A subnet taken out of the supernet (:meth:`~.supernet.Supernet.active_subnet`) carries weights
that were trained under the batch statistics of many paths, and the search keeps no running
statistics at all. Scored in eval mode as it is, its BatchNorm layers normalise with statistics
that belong to no path, and its top-1 says nothing about the path. Recalibration (once-for-all,
SPOS) re-estimates every BatchNorm layer's statistics on training images run through this path
alone, with no gradient: only then does the inherited top-1 rank architectures.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

_BATCH_NORM = nn.modules.batchnorm._BatchNorm


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, batches: Iterable, images: int = 512, device: torch.device | None = None
) -> int:
    """Reset the running statistics of every BatchNorm layer of ``model`` and re-estimate them as
    the plain average over at least ``images`` images of ``batches`` (an iterable of ``(x, y)``,
    iterated again from the start as often as needed). Only the BatchNorm layers run in training
    mode (dropout and drop-connect stay off, so the statistics are those of the network that is
    scored); the model is left in eval mode. Returns the number of images used."""
    layers = [m for m in model.modules() if isinstance(m, _BATCH_NORM)]
    if not layers:
        raise ValueError("the model has no BatchNorm layer to recalibrate")
    device = device or next(model.parameters()).device
    momenta = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average: every batch counts alike
        layer.train()
    seen = 0
    try:
        while seen < images:
            before = seen
            for x, _ in batches:
                model(x.to(device))
                seen += len(x)
                if seen >= images:
                    break
            if seen == before:
                raise ValueError("the batches to recalibrate BatchNorm with are empty")
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.eval()
    return seen


@torch.no_grad()
def correct_per_image(model: nn.Module, batches: Iterable, device: torch.device | None = None) -> np.ndarray:
    """Whether ``model`` (in eval mode) gets each image of ``batches`` right, in their order: the
    per-image record that intervals and paired comparisons are computed from."""
    device = device or next(model.parameters()).device
    model.eval()
    hits = [(model(x.to(device)).argmax(1).cpu() == y).numpy() for x, y in batches]
    return np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
