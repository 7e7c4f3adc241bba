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
from .network import TFNASNet, build_network
from .parallel import batch_norm
from .sampling import PathChoice
from .space import LayerPosition, SearchSpace
from .subnet import Subnet


class ElasticOp(nn.Module):
    """One candidate MBInvRes op at one position, with weights for its widest setting.

    The op owns its active width: ``active`` holds the indices of the expanded channels in use
    (a buffer, so it follows ``.to(device)`` and the state dict). :meth:`set_width` changes it
    between steps, never ``forward``. With ``affine``, each BatchNorm has a scale and a shift of
    the widest width, sliced to the active channels as the convolutions are (a warm start keeps the
    pretrained network's).
    """

    def __init__(
        self,
        position: LayerPosition,
        kernel: int,
        mid_range: tuple[int, int],
        init_mid: int,
        se: int,
        affine: bool = False,
    ):
        super().__init__()
        cin, cout = position.cin, position.cout
        max_mid = mid_range[1]
        self.kernel, self.stride, self.se_width, self.mid_range = kernel, position.stride, se, mid_range
        self.act = make_activation(position.act, inplace=False)
        self.act_in_place = make_activation(position.act, inplace=True)
        # ReLU's backward needs only its output; SiLU's (and the others') needs the input, which an
        # in-place version under autograd first copies
        self.output_backward = position.act == "relu"
        self.expand = nn.Parameter(torch.empty(max_mid, cin, 1, 1))
        self.depthwise = nn.Parameter(torch.empty(max_mid, 1, kernel, kernel))
        self.project = nn.Parameter(torch.empty(cout, max_mid, 1, 1))
        if se:
            self.se_reduce = nn.Conv2d(max_mid, se, 1)
            self.se_expand = nn.Conv2d(se, max_mid, 1)
        for weight in (self.expand, self.depthwise, self.project):
            nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
        self.affine = affine
        if affine:  # (scale, shift) of the BatchNorm after each conv
            self.expand_bn = nn.Parameter(torch.stack([torch.ones(max_mid), torch.zeros(max_mid)]))
            self.depthwise_bn = nn.Parameter(torch.stack([torch.ones(max_mid), torch.zeros(max_mid)]))
            self.project_bn = nn.Parameter(torch.stack([torch.ones(cout), torch.zeros(cout)]))
        self.register_buffer("active", torch.arange(init_mid))
        self.synchronised = False  # BatchNorm over the global batch of data-parallel processes

    def _batch_norm(
        self, x: torch.Tensor, affine: torch.Tensor | None = None, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Search-time BatchNorm of any width: batch statistics, no running statistics; ``affine``
        the (scale, shift) rows of the active channels, ``scale`` a factor on the whole output."""
        if affine is None:
            weight = None if scale is None else scale.repeat(x.shape[1])
            return batch_norm(x, weight, self.synchronised)
        weight, bias = (affine[0], affine[1]) if scale is None else (affine[0] * scale, affine[1] * scale)
        return batch_norm(x, weight, self.synchronised, bias)

    def _bn_rows(self, name: str, channels: torch.Tensor | None = None) -> torch.Tensor | None:
        """The (scale, shift) of BatchNorm ``name`` for ``channels`` (all when None); None without affine."""
        if not self.affine:
            return None
        rows = getattr(self, f"{name}_bn")
        return rows if channels is None else rows.index_select(1, channels)

    @property
    def width(self) -> int:
        return self.active.numel()

    def importance(self) -> torch.Tensor:
        """L1 norm of each expanded channel's depthwise filter: which channels a width keeps."""
        return self.depthwise.detach().abs().sum((1, 2, 3))

    @torch.no_grad()
    def channels(self, mid: int) -> torch.Tensor:
        """The channels width ``mid`` uses: the ``mid`` most important ones. The current width keeps
        its channel set: the channels in use stay the ones that were trained, whatever the
        importance says now."""
        lo, hi = self.mid_range
        if not lo <= mid <= hi:
            raise ValueError(f"width {mid} outside [{lo}, {hi}]")
        if mid == self.width:
            return self.active
        return torch.topk(self.importance(), mid).indices.sort().values.to(self.active.device)

    @torch.no_grad()
    def set_width(self, mid: int) -> bool:
        """Use :meth:`channels` of width ``mid`` from now on; returns whether the set changed."""
        channels = self.channels(mid)
        changed = channels is not self.active
        self.active = channels
        return changed

    @torch.no_grad()
    def copy_to(self, block: MBInvRes, channels: torch.Tensor) -> None:
        """Put this op's weights of ``channels`` into the stand-alone ``block`` of that width."""
        block.expand[0].weight.copy_(self.expand.index_select(0, channels))
        block.depthwise[0].weight.copy_(self.depthwise.index_select(0, channels))
        block.project[0].weight.copy_(self.project.index_select(1, channels))
        if self.affine:
            for name, picked in (("expand", channels), ("depthwise", channels), ("project", None)):
                rows = self._bn_rows(name, picked)
                bn = getattr(block, name)[1]
                bn.weight.copy_(rows[0])
                bn.bias.copy_(rows[1])
        if self.se_width:
            block.se.reduce.weight.copy_(self.se_reduce.weight.index_select(1, channels))
            block.se.reduce.bias.copy_(self.se_reduce.bias)
            block.se.expand.weight.copy_(self.se_expand.weight.index_select(0, channels))
            block.se.expand.bias.copy_(self.se_expand.bias.index_select(0, channels))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "active")
        if saved is not None:  # the saved width may differ from this op's: take its shape first
            self.active = torch.empty_like(saved, device=self.active.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _activate(self, h: torch.Tensor) -> torch.Tensor:
        """The activation of a BatchNorm output (which no backward keeps), in place where no backward
        needs its input: a fresh tensor costs a write to new memory as large as ``h``, the largest
        cost of an architecture step's first layer, whose eight ops run at 112 x 112 (224 px) with
        no gradient."""
        if self.output_backward or not (h.requires_grad and torch.is_grad_enabled()):
            return self.act_in_place(h)
        return self.act(h)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        """The op at its active width; ``scale`` (a mixture weight) multiplies the output, folded
        into the last BatchNorm's affine weight so that it costs no extra pass over the output."""
        # index_select, not weight[channels]: advanced indexing costs about 5x more on the CPU
        channels, mid = self.active, self.active.numel()
        h = F.conv2d(x, self.expand.index_select(0, channels))
        h = self._activate(self._batch_norm(h, self._bn_rows("expand", channels)))
        depthwise = self.depthwise.index_select(0, channels)
        h = F.conv2d(h, depthwise, stride=self.stride, padding=self.kernel // 2, groups=mid)
        h = self._activate(self._batch_norm(h, self._bn_rows("depthwise", channels)))
        if self.se_width:
            gate = h.mean((2, 3), keepdim=True)
            reduce = self.se_reduce.weight.index_select(1, channels)
            gate = self.act(F.conv2d(gate, reduce, self.se_reduce.bias))
            expand = self.se_expand.weight.index_select(0, channels)
            gate = F.conv2d(gate, expand, self.se_expand.bias.index_select(0, channels))
            gate = torch.sigmoid(gate)
            h = h * gate if h.requires_grad and torch.is_grad_enabled() else h.mul_(gate)
        out = F.conv2d(h, self.project.index_select(1, channels))
        return self._batch_norm(out, self._bn_rows("project"), scale)


class SearchLayer(nn.Module):
    """All candidate ops of one position; the output mixes them by the choice's weights."""

    def __init__(self, space: SearchSpace, position: LayerPosition, affine: bool = False):
        super().__init__()
        self.position = position
        cin = position.cin
        self.ops = nn.ModuleList(
            ElasticOp(
                position,
                space.ops[n].kernel,
                space.ops[n].mid_range(cin),
                space.ops[n].init_mid(cin),
                space.ops[n].se_width(cin),
                affine,
            )
            for n in position.ops
        )
        self.residual = position.stride == 1 and position.cin == position.cout

    def forward(self, x: torch.Tensor, op: int | None = None, weights: torch.Tensor | None = None) -> torch.Tensor:
        """One op (``op``) or the mixture of all ops weighted by ``weights``."""
        # Sums accumulate in place (into outputs that no backward saves): a fresh tensor per sum
        # costs an allocation, and on the CPU page faults, as large as the layer's output.
        if op is not None:
            out = self.ops[op](x)
        else:
            out = None  # not sum(): 0 + the first output would cost a pass over it
            for candidate, w in zip(self.ops, weights, strict=True):
                y = candidate(x, scale=w)
                out = y if out is None else out.add_(y)
        return out.add_(x) if self.residual else out


class Supernet(nn.Module):
    """``affine``: BatchNorm with scales and shifts (a warm start from a pretrained network,
    :mod:`.warm_start`); without, as in the paper, batch statistics alone."""

    def __init__(self, space: SearchSpace, num_classes: int, dropout: float = 0.0, affine: bool = False):
        super().__init__()
        self.space, self.affine = space, affine
        self.positions = space.positions()
        bn = {"search": True, "affine": affine}
        self.stem = ConvBNAct(space.in_channels, space.stem.out, space.stem.kernel, space.stem.stride,
                              act=space.stem.act, **bn)  # fmt: skip
        self.fixed = nn.Sequential(*(MBInvRes(b, **bn) for b, _ in space.fixed_block_inputs()))
        self.layers = nn.ModuleList(SearchLayer(space, p, affine) for p in self.positions)
        self.head = ConvBNAct(space.stages[-1].out, space.head.out, 1, act=space.head.act, **bn)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(space.head.out, num_classes)
        self.stage_of_layer = [p.stage for p in self.positions]

    def synchronise_batch_norm(self, enabled: bool = True) -> None:
        """Normalise with the statistics of the global batch that data-parallel processes share
        (each running ``forward`` on its part), instead of each process's part alone."""
        for module in self.modules():
            if hasattr(module, "synchronised"):
                module.synchronised = enabled

    # --- widths --------------------------------------------------------------------------------
    def widths(self) -> list[dict[str, int]]:
        """The active width of every op of every layer: ``widths[j][op name]``."""
        return [
            {name: op.width for name, op in zip(p.ops, layer.ops, strict=True)}
            for p, layer in zip(self.positions, self.layers, strict=True)
        ]

    def set_widths(self, widths: list[dict[str, int]]) -> int:
        """Give every op its width ``widths[j][op]``; only ops whose width changes re-pick their
        channels (:meth:`ElasticOp.set_width`). Returns how many ops changed."""
        changed = 0
        for j, (layer, p) in enumerate(zip(self.layers, self.positions, strict=True)):
            for op, name in zip(layer.ops, p.ops, strict=True):
                try:
                    changed += op.set_width(widths[j][name])
                except ValueError as error:
                    raise ValueError(f"layer {j} op {name}: {error}") from None
        return changed

    @torch.no_grad()
    def active_subnet(self, subnet: Subnet) -> TFNASNet:
        """A stand-alone network of ``subnet`` carrying this supernet's weights: the shared stem,
        fixed blocks, head and classifier, and each active layer's chosen op at the subnet's width
        (:meth:`ElasticOp.channels`). Its BatchNorm layers start afresh, as the search keeps no
        running statistics: in training mode it computes what the supernet computes on that path."""
        arch = subnet.to_arch(self.space, self.classifier.out_features, dropout=self.dropout.p)
        net = build_network(arch).to(self.classifier.weight.device)
        net.stem.load_state_dict(self.stem.state_dict(), strict=False)
        for mine, theirs in zip(net.blocks, self.fixed, strict=False):
            unexpected = mine.load_state_dict(theirs.state_dict(), strict=False).unexpected_keys
            assert not unexpected, f"fixed block weights the stand-alone block lacks: {unexpected}"
        searched = net.blocks[len(self.fixed) :]
        for block, (j, _, name) in zip(searched, subnet.active(self.space), strict=True):
            op = self.layers[j].ops[subnet.ops[j]]
            op.copy_to(block, op.channels(subnet.widths[j][name]))
        net.head.load_state_dict(self.head.state_dict(), strict=False)
        net.classifier.load_state_dict(self.classifier.state_dict())
        return net

    # --- forward -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, choice: PathChoice) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x, choice)))

    def features(self, x: torch.Tensor, choice: PathChoice) -> torch.Tensor:
        """The pooled head features of ``choice``'s path: what the classifier sees."""
        x = self.fixed(self.stem(x))
        first = 0
        for s, stage in enumerate(self.space.stages):
            h, sink = x, None
            depth = stage.max_depth if choice.depths is None else choice.depths[s]
            for d in range(depth):
                j = first + d
                if choice.path is not None:
                    h = self.layers[j](h, op=choice.path[j])
                else:
                    h = self.layers[j](h, weights=choice.op_weights[j])
                if choice.depth_weights is not None:  # sink-connecting: every depth feeds the stage output
                    term = choice.depth_weights[s][d] * h
                    sink = term if sink is None else sink.add_(term)
            x = h if choice.depths is not None else sink
            first += stage.max_depth
        return torch.flatten(F.adaptive_avg_pool2d(self.head(x), 1), 1)


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
    return Subnet.strongest(space, alpha, beta, widths).to_arch(space, num_classes, name=name, dropout=dropout)
