"""The TF-NAS supernet: every candidate op of every layer, sink-connected stages, elastic widths.

Built once from a :class:`~.space.SearchSpace`. Each candidate op owns full-width weights (``e3``
ops ``4 * Cin``, ``e6`` ops ``8 * Cin``); its active width is a set of channel indices chosen by
the L1 norm of the depthwise weights (:meth:`Supernet.set_widths`, called between epochs, never in
``forward``). Dropped channels keep their weights and can come back. ``forward`` takes a
:class:`~.sampling.PathChoice`: one-hot op weights run one path, soft weights mix every op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arch import ArchDescription
from .blocks import ConvBNAct, MBInvRes, make_activation
from .sampling import PathChoice
from .space import LayerPosition, SearchSpace


def _batch_norm(x: torch.Tensor) -> torch.Tensor:
    """Search-time BatchNorm of any width: batch statistics, no affine parameters, no running stats."""
    return F.batch_norm(x, None, None, training=True, eps=1e-5)


class ElasticOp(nn.Module):
    """One candidate MBInvRes op at one position, with weights for its widest setting."""

    def __init__(self, position: LayerPosition, kernel: int, max_mid: int, se: int):
        super().__init__()
        cin, cout = position.cin, position.cout
        self.kernel, self.stride, self.se_width = kernel, position.stride, se
        self.act = make_activation(position.act)
        self.expand = nn.Parameter(torch.empty(max_mid, cin, 1, 1))
        self.depthwise = nn.Parameter(torch.empty(max_mid, 1, kernel, kernel))
        self.project = nn.Parameter(torch.empty(cout, max_mid, 1, 1))
        if se:
            self.se_reduce = nn.Conv2d(max_mid, se, 1)
            self.se_expand = nn.Conv2d(se, max_mid, 1)
        for weight in (self.expand, self.depthwise, self.project):
            nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")

    def importance(self) -> torch.Tensor:
        """L1 norm of each expanded channel's depthwise filter: which channels a width keeps."""
        return self.depthwise.detach().abs().sum((1, 2, 3))

    def forward(self, x: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
        mid = channels.numel()
        h = self.act(_batch_norm(F.conv2d(x, self.expand[channels])))
        h = F.conv2d(h, self.depthwise[channels], stride=self.stride, padding=self.kernel // 2, groups=mid)
        h = self.act(_batch_norm(h))
        if self.se_width:
            gate = h.mean((2, 3), keepdim=True)
            gate = self.act(F.conv2d(gate, self.se_reduce.weight[:, channels], self.se_reduce.bias))
            gate = F.conv2d(gate, self.se_expand.weight[channels], self.se_expand.bias[channels])
            h = h * torch.sigmoid(gate)
        return _batch_norm(F.conv2d(h, self.project[:, channels]))


class SearchLayer(nn.Module):
    """All candidate ops of one position; the output mixes them by the choice's weights."""

    def __init__(self, space: SearchSpace, position: LayerPosition):
        super().__init__()
        self.position = position
        self.ops = nn.ModuleList(
            ElasticOp(
                position,
                space.ops[n].kernel,
                space.ops[n].mid_range(position.cin)[1],
                space.ops[n].se_width(position.cin),
            )
            for n in position.ops
        )
        self.residual = position.stride == 1 and position.cin == position.cout

    def forward(
        self, x: torch.Tensor, channels: list[torch.Tensor], op: int | None = None, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One op (``op``) or the mixture of all ops weighted by ``weights``."""
        if op is not None:
            out = self.ops[op](x, channels[op])
        else:
            out = sum(w * candidate(x, idx) for candidate, w, idx in zip(self.ops, weights, channels, strict=True))
        return out + x if self.residual else out


class Supernet(nn.Module):
    def __init__(self, space: SearchSpace, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.space = space
        self.positions = space.positions()
        self.stem = ConvBNAct(
            space.in_channels, space.stem.out, space.stem.kernel, space.stem.stride, act=space.stem.act, search=True
        )
        self.fixed = nn.Sequential(*(MBInvRes(b, search=True) for b, _ in space.fixed_block_inputs()))
        self.layers = nn.ModuleList(SearchLayer(space, p) for p in self.positions)
        self.head = ConvBNAct(space.stages[-1].out, space.head.out, 1, act=space.head.act, search=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(space.head.out, num_classes)
        self.stage_of_layer = [p.stage for p in self.positions]
        # active channels of every op: buffers, so they follow .to(device) and the state dict
        for j, p in enumerate(self.positions):
            for i, name in enumerate(p.ops):
                self.register_buffer(f"channels_{j}_{i}", torch.arange(space.ops[name].init_mid(p.cin)))

    # --- widths --------------------------------------------------------------------------------
    def channels(self, j: int) -> list[torch.Tensor]:
        return [getattr(self, f"channels_{j}_{i}") for i in range(len(self.positions[j].ops))]

    def widths(self) -> list[dict[str, int]]:
        return [
            {n: c.numel() for n, c in zip(p.ops, self.channels(j), strict=True)} for j, p in enumerate(self.positions)
        ]

    @torch.no_grad()
    def set_widths(self, widths: list[dict[str, int]]) -> None:
        """Keep, for every op, its ``widths[j][op]`` most important channels (by depthwise L1 norm)."""
        for j, (layer, p) in enumerate(zip(self.layers, self.positions, strict=True)):
            for i, (op, name) in enumerate(zip(layer.ops, p.ops, strict=True)):
                lo, hi = self.space.ops[name].mid_range(p.cin)
                mid = widths[j][name]
                if not lo <= mid <= hi:
                    raise ValueError(f"layer {j} op {name}: width {mid} outside [{lo}, {hi}]")
                keep = torch.topk(op.importance(), mid).indices.sort().values
                setattr(self, f"channels_{j}_{i}", keep.to(getattr(self, f"channels_{j}_{i}").device))

    # --- forward -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, choice: PathChoice) -> torch.Tensor:
        x = self.fixed(self.stem(x))
        first = 0
        for s, stage in enumerate(self.space.stages):
            h, sink = x, 0.0
            depth = stage.max_depth if choice.depths is None else choice.depths[s]
            for d in range(depth):
                j = first + d
                if choice.path is not None:
                    h = self.layers[j](h, self.channels(j), op=choice.path[j])
                else:
                    h = self.layers[j](h, self.channels(j), weights=choice.op_weights[j])
                if choice.depth_weights is not None:  # sink-connecting: every depth feeds the stage output
                    sink = sink + choice.depth_weights[s][d] * h
            x = h if choice.depths is not None else sink
            first += stage.max_depth
        x = torch.flatten(F.adaptive_avg_pool2d(self.head(x), 1), 1)
        return self.classifier(self.dropout(x))


def strongest_choices(
    space: SearchSpace, alpha: list[torch.Tensor], beta: list[torch.Tensor]
) -> tuple[list[int], list[int]]:
    """(depth per stage, op index per layer) by argmax of ``beta`` and ``alpha``."""
    depths = [int(torch.argmax(b)) + 1 for b in beta]
    for s, stage in enumerate(space.stages):
        depths[s] = max(stage.min_depth, depths[s])
    return depths, [int(torch.argmax(a)) for a in alpha]


def derive_architecture(
    space: SearchSpace,
    alpha: list[torch.Tensor],
    beta: list[torch.Tensor],
    widths: list[dict[str, int]],
    num_classes: int,
    *,
    name: str = "",
    dropout: float = 0.2,
) -> ArchDescription:
    """The strongest op per layer and depth per stage at ``widths``."""
    depths, op_index = strongest_choices(space, alpha, beta)
    return architecture_from_choices(space, depths, op_index, widths, num_classes, name=name, dropout=dropout)


def architecture_from_choices(
    space: SearchSpace,
    depths: list[int],
    op_index: list[int],
    widths: list[dict[str, int]],
    num_classes: int,
    *,
    name: str = "",
    dropout: float = 0.2,
) -> ArchDescription:
    """The architecture with ``depths[s]`` layers per stage, op ``op_index[j]`` and its width per layer."""
    ops, mids = [[] for _ in space.stages], [[] for _ in space.stages]
    for j, p in enumerate(space.positions()):
        if p.layer < depths[p.stage]:
            op = p.ops[op_index[j]]
            ops[p.stage].append(op)
            mids[p.stage].append(widths[j][op])
    return space.build_arch(depths, ops, mids, name=name, num_classes=num_classes, dropout=dropout)
