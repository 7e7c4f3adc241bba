"""Choices of path through the supernet, as pure functions of ``alpha``, a temperature and a generator.

A :class:`PathChoice` says, for every searchable layer, how much each candidate op contributes
(one-hot for a single path, a Gumbel-softmax mixture for architecture steps) and, for every stage,
how much each depth's output contributes to the stage's sink. The supernet reads it in ``forward``
and keeps no per-step state, so the same code runs data-parallel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PathChoice:
    """What ``Supernet.forward`` runs. Per layer either one op (``path``) or a weighted mixture of
    all ops (``op_weights``); per stage either a mixture of depths (``depth_weights``, the sink) or
    one depth (``depths``)."""

    path: list[int] | None = None
    op_weights: list[torch.Tensor] | None = None
    depth_weights: list[torch.Tensor] | None = None
    depths: list[int] | None = None

    def __post_init__(self):
        if (self.path is None) == (self.op_weights is None):
            raise ValueError("a PathChoice needs exactly one of path and op_weights")
        if (self.depth_weights is None) == (self.depths is None):
            raise ValueError("a PathChoice needs exactly one of depth_weights and depths")


def _gumbel(shape: torch.Size, generator: torch.Generator | None, device) -> torch.Tensor:
    """Gumbel noise drawn where ``generator`` lives (a CPU generator replays on any device)."""
    source = device if generator is None else generator.device
    u = torch.rand(shape, generator=generator, device=source).clamp_(1e-10, 1.0 - 1e-10)
    return (-torch.log(-torch.log(u))).to(device)


def gumbel_max(logits: torch.Tensor, generator: torch.Generator | None = None) -> int:
    """A sample from ``softmax(logits)`` by the Gumbel-max trick."""
    return int(torch.argmax(logits.detach() + _gumbel(logits.shape, generator, logits.device)))


def gumbel_softmax(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A relaxed (soft) sample whose gradient reaches ``logits``."""
    return torch.softmax((logits + _gumbel(logits.shape, generator, logits.device)) / tau, dim=-1)


def bi_sample(alpha: list[torch.Tensor], generator: torch.Generator | None = None) -> tuple[list[int], list[int]]:
    """Two single paths per layer (docs/method.md section 3): the first drawn from ``softmax(alpha)``
    by Gumbel-max, the second uniformly from the layer's *other* ops, so every op keeps training."""
    first, second = [], []
    for logits in alpha:
        a = gumbel_max(logits, generator)
        b = int(torch.randint(len(logits) - 1, (1,), generator=generator))
        first.append(a)
        second.append(b + (b >= a))  # skip over the first path's op
    return first, second


def gumbel_path(alpha: list[torch.Tensor], generator: torch.Generator | None = None) -> list[int]:
    """One single path drawn from ``softmax(alpha)`` (the ablation without bi-sampling)."""
    return [gumbel_max(logits, generator) for logits in alpha]


def uniform_path(alpha: list[torch.Tensor], generator: torch.Generator | None = None) -> list[int]:
    """One op per layer drawn uniformly (warm-up: every op trains equally before alpha learns)."""
    return [int(torch.randint(len(logits), (1,), generator=generator)) for logits in alpha]


def path_choice(path: list[int], alpha: list[torch.Tensor], beta: list[torch.Tensor]) -> PathChoice:
    """A single path with the current depth distribution (no gradient to alpha or beta)."""
    return PathChoice(path=list(path), depth_weights=[torch.softmax(b.detach(), -1) for b in beta])


def mixture_choice(
    alpha: list[torch.Tensor], beta: list[torch.Tensor], tau: float, generator: torch.Generator | None = None
) -> PathChoice:
    """Every op of every layer, mixed by a Gumbel-softmax sample of ``alpha``; depths by ``softmax(beta)``."""
    return PathChoice(
        op_weights=[gumbel_softmax(a, tau, generator) for a in alpha],
        depth_weights=[torch.softmax(b, -1) for b in beta],
    )
