"""The two steps of a search, as functions of the supernet: a weight step back-propagates single
paths, an architecture step the mixture of every op and depth with the latency term."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F

from ..sampling import PathChoice, path_choice
from ..supernet import Supernet


def backward_paths(
    supernet: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    paths: list[list[int]],
    alpha,
    beta,
    scale=1.0,
    autocast=nullcontext,
    scaler: torch.amp.GradScaler | None = None,
    distill: bool = False,
) -> list[torch.Tensor]:
    """Cross-entropy of each single path, back-propagated one path at a time so that only one
    path's activations are alive at once; gradients accumulate. Returns the (detached) cross-entropy
    of each path. With ``distill``, every path after the first learns the first path's softmax
    (detached: the teacher gets no gradient from its students) instead of the labels.
    ``scale`` multiplies each loss (a process's share of a global batch, see ``Searcher._share``);
    the forward runs in ``autocast()``, the backward of ``scaler.scale(loss)`` when given."""
    losses, teacher = [], None
    for path in paths:
        with autocast():
            logits = supernet(x, path_choice(path, alpha, beta)).float()
        ce = F.cross_entropy(logits, y) * scale
        loss = ce if teacher is None else F.cross_entropy(logits, teacher) * scale
        if distill and teacher is None:
            teacher = torch.softmax(logits.detach(), dim=-1)
        (loss if scaler is None else scaler.scale(loss)).backward()
        losses.append(ce.detach())
    return losses


def backward_architecture(
    supernet: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    choice: PathChoice,
    penalty: torch.Tensor,
    params,
    scale=1.0,
    autocast=nullcontext,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the mixture ``choice`` plus ``penalty`` (the latency term), back-propagated
    into ``params`` (alpha and beta) only. The weights are frozen in an architecture step: with
    ``requires_grad`` off, autograd neither records their use nor keeps what their gradients would
    need. Returns the (detached) cross-entropy and loss; ``scale``, ``autocast`` and ``scaler`` as
    in :func:`backward_paths`."""
    with frozen(supernet):
        with autocast():
            ce = F.cross_entropy(supernet(x, choice), y).float() * scale
        loss = ce + penalty
        (loss if scaler is None else scaler.scale(loss)).backward(inputs=list(params))
    return ce.detach(), loss.detach()


@contextmanager
def frozen(module: torch.nn.Module):
    """``module``'s parameters without ``requires_grad`` inside the block, as they were after it."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in trainable:
            p.requires_grad_(True)
