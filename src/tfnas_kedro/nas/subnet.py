"""One choice of subnet in a search space: a depth per stage, an op per layer, a width per op.

The supernet, the search, elasticity-scaling and derivation all speak of the same thing, so they
pass one value: :class:`Subnet`. It names ops by their index among a position's candidates and
keeps a width for every candidate op of every layer (the supernet's state: an op swapped in
brings back the width it had), while only the chosen op of each active layer enters the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .arch import ArchDescription
    from .space import LayerPosition, SearchSpace


@dataclass(frozen=True)
class Subnet:
    depths: tuple[int, ...]  # layers in use per stage
    ops: tuple[int, ...]  # op index at every position (at every stage's maximum depth)
    widths: tuple[Mapping[str, int], ...]  # expanded width of each op at every position

    @classmethod
    def of(cls, depths: Sequence[int], ops: Sequence[int], widths: Sequence[Mapping[str, int]]) -> Subnet:
        return cls(tuple(depths), tuple(ops), tuple(dict(w) for w in widths))

    @classmethod
    def from_dict(cls, data: Mapping) -> Subnet:
        """The subnet :meth:`as_dict` wrote (a JSON artifact's ``subnet``)."""
        return cls.of(data["depths"], data["ops"], data["widths"])

    def as_dict(self) -> dict:
        return {"depths": list(self.depths), "ops": list(self.ops), "widths": [dict(w) for w in self.widths]}

    @classmethod
    def strongest(
        cls, space: SearchSpace, alpha: Sequence[torch.Tensor], beta: Sequence[torch.Tensor], widths
    ) -> Subnet:
        """The argmax depth of every stage (at least its minimum) and argmax op of every layer."""
        depths = [max(stage.min_depth, int(torch.argmax(b)) + 1) for b, stage in zip(beta, space.stages, strict=True)]
        return cls.of(depths, [int(torch.argmax(a)) for a in alpha], widths)

    @property
    def choice(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Depths and ops, without the widths: what a search over choices must not try twice."""
        return self.depths, self.ops

    def is_active(self, position: LayerPosition) -> bool:
        return position.layer < self.depths[position.stage]

    def active(self, space: SearchSpace) -> list[tuple[int, LayerPosition, str]]:
        """``(index, position, chosen op name)`` of every layer in use, in network order."""
        return [(j, p, p.ops[self.ops[j]]) for j, p in enumerate(space.positions()) if self.is_active(p)]

    def with_depth(self, stage: int, depth: int) -> Subnet:
        return replace(self, depths=self.depths[:stage] + (depth,) + self.depths[stage + 1 :])

    def with_op(self, layer: int, op: int) -> Subnet:
        return replace(self, ops=self.ops[:layer] + (op,) + self.ops[layer + 1 :])

    def with_widths(self, widths: Sequence[Mapping[str, int]]) -> Subnet:
        return replace(self, widths=tuple(dict(w) for w in widths))

    def to_arch(self, space: SearchSpace, num_classes: int, *, name: str = "", dropout: float = 0.2) -> ArchDescription:
        """The stand-alone architecture: each active layer's chosen op at its width."""
        return space.arch_of(self, name=name, num_classes=num_classes, dropout=dropout)
