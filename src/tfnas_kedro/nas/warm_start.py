"""A supernet that starts from a pretrained MBConv network (``search.init``), as once-for-all starts
from its full network: every candidate op at every position inherits the pretrained block there.

EfficientNet-Lite0 and -B0 have the TF-NAS channel plan (stem 32, fixed block 32 -> 16, stages of
24, 40, 80, 112, 192, 320, head 1280) and stage depths within its maxima, so each is one path of
the space but for activations and squeeze-excitation. The inheritance:

* kernels are centre-cropped (5 -> 3) or zero-padded (3 -> 5);
* an op narrower than the pretrained block keeps its most important expanded channels (the L1
  norm of their depthwise filters, the importance widths are chosen by); a wider one keeps all of
  them and its extra channels start with zero projection weights (they add nothing until trained)
  and depthwise filters below every pretrained one's importance (a width picks them last);
* squeeze-excitation comes from the pretrained block's where it has one, else starts neutral: a
  constant gate of 0.5, which the projection's BatchNorm divides out;
* a layer beyond a pretrained stage's depth copies the stage's last block with a zero output
  BatchNorm scale and shift: its residual branch adds nothing, the layer is the identity;
* the stem, fixed blocks and head inherit; the classifier is new.

The supernet's BatchNorm keeps batch statistics (paths and widths change every step) but gains the
pretrained scales and shifts (``Supernet(affine=True)``, sliced to the active channels as in
once-for-all): without them each inherited layer would be renormalised to unit scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import MBInvRes, SqueezeExcite
from .space import SearchSpace


class WarmStartError(ValueError):
    """A pretrained network that does not fit the search space."""


@dataclass
class ConvBN:
    """A pretrained convolution and the (scale, shift) of its BatchNorm, shape (2, out)."""

    weight: torch.Tensor
    bn: torch.Tensor


@dataclass
class PretrainedBlock:
    depthwise: ConvBN
    project: ConvBN
    stride: int
    expand: ConvBN | None = None  # None: no expansion (mid == in)
    se: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # reduce w, b; expand w, b

    @property
    def cin(self) -> int:
        return self.depthwise.weight.shape[0] if self.expand is None else self.expand.weight.shape[1]

    @property
    def mid(self) -> int:
        return self.depthwise.weight.shape[0]

    @property
    def cout(self) -> int:
        return self.project.weight.shape[0]

    @property
    def kernel(self) -> int:
        return self.depthwise.weight.shape[-1]

    @property
    def continues_stage(self) -> bool:
        return self.stride == 1 and self.cin == self.cout


@dataclass
class PretrainedNet:
    """A pretrained MBConv network as weights: stem, blocks in order, head."""

    name: str
    stem: ConvBN
    blocks: list[PretrainedBlock]
    head: ConvBN

    def stages(self, fixed: int) -> list[list[PretrainedBlock]]:
        """The blocks after the first ``fixed``, grouped into stages: a stage starts where a block
        changes channels or strides."""
        stages: list[list[PretrainedBlock]] = []
        for block in self.blocks[fixed:]:
            if stages and block.continues_stage:
                stages[-1].append(block)
            else:
                stages.append([block])
        return stages


def _conv_bn(layers: nn.Sequential) -> ConvBN:
    """A conv-BN(-act) sequence's convolution and BatchNorm."""
    conv, bn = layers[0], layers[1]
    return ConvBN(conv.weight.detach().clone(), torch.stack([bn.weight.detach(), bn.bias.detach()]).clone())


def _se(se: nn.Module) -> tuple[torch.Tensor, ...]:
    reduce, expand = (se.reduce, se.expand) if isinstance(se, SqueezeExcite) else (se.fc1, se.fc2)
    return tuple(t.detach().clone() for t in (reduce.weight, reduce.bias, expand.weight, expand.bias))


def from_network(net: nn.Module, name: str) -> PretrainedNet:
    """A network of this project (:class:`~.network.TFNASNet`, e.g. EfficientNet-Lite0 built from
    its description, or a retrained architecture) as a warm-start source."""
    blocks = [
        PretrainedBlock(
            depthwise=_conv_bn(b.depthwise),
            project=_conv_bn(b.project),
            stride=b.spec.stride,
            expand=None if isinstance(b.expand, nn.Identity) else _conv_bn(b.expand),
            se=_se(b.se) if isinstance(b.se, SqueezeExcite) else None,
        )
        for b in net.blocks
        if isinstance(b, MBInvRes)
    ]
    return PretrainedNet(name, _conv_bn(net.stem), blocks, _conv_bn(net.head))


def from_torchvision_efficientnet(model: nn.Module, name: str) -> PretrainedNet:
    """torchvision's EfficientNet (``features``: stem, stages of MBConv, head) as a source."""
    features = list(model.features)
    blocks = []
    for stage in features[1:-1]:
        for mbconv in stage:
            layers = list(mbconv.block)
            se = next(m for m in layers if hasattr(m, "fc1"))
            convs = [m for m in layers if m is not se]
            expand = _conv_bn(convs[0]) if len(convs) == 3 else None
            depthwise, project = convs[-2], convs[-1]
            stride = depthwise[0].stride[0]
            blocks.append(PretrainedBlock(_conv_bn(depthwise), _conv_bn(project), stride, expand, _se(se)))
    return PretrainedNet(name, _conv_bn(features[0]), blocks, _conv_bn(features[-1]))


def fit_kernel(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    """Depthwise filters ``(C, 1, K, K)`` as ``kernel x kernel``: the centre of a larger one, or a
    smaller one in the centre of zeros."""
    size = weight.shape[-1]
    if size >= kernel:
        start = (size - kernel) // 2
        return weight[..., start : start + kernel, start : start + kernel]
    pad = (kernel - size) // 2
    return F.pad(weight, [pad] * 4)


def kept_channels(block: PretrainedBlock, width: int) -> torch.Tensor:
    """The pretrained expanded channels an op of ``width`` channels at most inherits: all of them
    when it is as wide, else its ``width`` most important (depthwise L1), in their order."""
    if width >= block.mid:
        return torch.arange(block.mid)
    importance = block.depthwise.weight.abs().sum((1, 2, 3))
    return torch.topk(importance, width).indices.sort().values


def _fit_error(space: SearchSpace, net: PretrainedNet, where: str, theirs, ours) -> WarmStartError:
    return WarmStartError(
        f"search.init {net.name!r} does not fit the space: {where} is {theirs} in {net.name} and {ours} in the "
        "space; choose a space with its channel plan (e.g. tfnas, tfnas_wose, tfnas_lite), or search.init: scratch"
    )


def check_fits(space: SearchSpace, net: PretrainedNet) -> list[list[PretrainedBlock]]:
    """The source's stages if it fits the space; else the first mismatch, named with both shapes."""
    if net.stem.weight.shape[:1] + net.stem.weight.shape[2:3] != (space.stem.out, space.stem.kernel):
        ours = (space.stem.out, space.in_channels, space.stem.kernel, space.stem.kernel)
        raise _fit_error(space, net, "the stem (out, in, k, k)", tuple(net.stem.weight.shape), ours)
    for i, (spec, _) in enumerate(space.fixed_block_inputs()):
        block = net.blocks[i] if i < len(net.blocks) else None
        theirs = None if block is None else (block.cin, block.mid, block.cout, block.stride)
        if theirs != (spec.in_, spec.mid, spec.out, spec.stride):
            raise _fit_error(space, net, f"fixed block {i} (in, mid, out, stride)", theirs,
                             (spec.in_, spec.mid, spec.out, spec.stride))  # fmt: skip
    stages = net.stages(len(space.fixed_blocks))
    for s, (blocks, stage) in enumerate(zip(stages, space.stages, strict=False)):  # the first stage that differs
        theirs, ours = (blocks[0].cout, blocks[0].stride, len(blocks)), (stage.out, stage.stride, stage.max_depth)
        if theirs[:2] != ours[:2] or theirs[2] > ours[2]:
            raise _fit_error(space, net, f"stage {s} (out, stride, depth)", theirs, f"{ours} (depth at most)")
    if len(stages) != len(space.stages):
        raise _fit_error(space, net, "the number of stages", len(stages), len(space.stages))
    if net.head.weight.shape[:2] != (space.head.out, space.stages[-1].out):
        raise _fit_error(space, net, "the head (out, in)", tuple(net.head.weight.shape[:2]),
                         (space.head.out, space.stages[-1].out))  # fmt: skip
    return stages


@torch.no_grad()
def _copy_conv_bn(layers: nn.Sequential, source: ConvBN) -> None:
    conv, bn = layers[0], layers[1]
    conv.weight.copy_(source.weight)
    if bn.weight is not None:  # an affine search BatchNorm (a stand-alone one always is)
        bn.weight.copy_(source.bn[0])
        bn.bias.copy_(source.bn[1])


@torch.no_grad()
def _copy_se(se_reduce: nn.Conv2d, se_expand: nn.Conv2d, source, channels: torch.Tensor) -> None:
    """The pretrained gate into an SE of possibly other hidden width: the first hidden units inherit,
    extra ones get zero expand weights (they add nothing to the gate); the expanded ``channels``
    (pretrained indices) fill the first rows. Without a pretrained SE the gate starts neutral."""
    se_expand.weight.zero_()
    se_expand.bias.zero_()
    if source is None:
        return
    reduce_w, reduce_b, expand_w, expand_b = source
    n, hidden = len(channels), min(se_reduce.out_channels, reduce_w.shape[0])
    se_reduce.weight[:hidden, :n] = reduce_w[:hidden].index_select(1, channels)
    se_reduce.bias[:hidden] = reduce_b[:hidden]
    se_expand.weight[:n, :hidden] = expand_w.index_select(0, channels)[:, :hidden]
    se_expand.bias[:n] = expand_b.index_select(0, channels)


@torch.no_grad()
def inherit_op(op: nn.Module, block: PretrainedBlock | None, identity: bool = False) -> None:
    """One :class:`~.supernet.ElasticOp` from one pretrained block (module docstring); an identity
    layer with no block of its shape to copy keeps its fresh weights behind the zero BatchNorm."""
    if identity and op.affine:
        op.project_bn.data.zero_()
    if block is None:
        return
    if block.expand is None:
        raise WarmStartError(f"a searchable layer's pretrained block has no expansion (in {block.cin} = mid)")
    widest = op.expand.shape[0]
    channels = kept_channels(block, widest)
    n = len(channels)
    op.expand[:n] = block.expand.weight.index_select(0, channels)
    op.depthwise[:n] = fit_kernel(block.depthwise.weight.index_select(0, channels), op.kernel)
    op.project.zero_()
    op.project[:, :n] = block.project.weight.index_select(1, channels)
    if n < widest:  # extra channels: picked last by importance, and silent until trained
        extra = op.depthwise[n:]
        floor = op.depthwise[:n].abs().sum((1, 2, 3)).min()
        extra.mul_(0.5 * floor / extra.abs().sum((1, 2, 3)).clamp_min(1e-12).view(-1, 1, 1, 1))
    if op.affine:
        for rows, source in ((op.expand_bn, block.expand), (op.depthwise_bn, block.depthwise)):
            rows[:, n:] = torch.tensor([[1.0], [0.0]])
            rows[:, :n] = source.bn.index_select(1, channels)
        if not identity:
            op.project_bn.copy_(block.project.bn)
    if op.se_width:
        _copy_se(op.se_reduce, op.se_expand, block.se, channels)


@torch.no_grad()
def _inherit_block(mine: MBInvRes, block: PretrainedBlock) -> None:
    """A fixed block of the supernet (the same shape) from the pretrained one."""
    if block.expand is not None:
        _copy_conv_bn(mine.expand, block.expand)
    _copy_conv_bn(mine.depthwise, block.depthwise)
    _copy_conv_bn(mine.project, block.project)
    if isinstance(mine.se, SqueezeExcite):
        _copy_se(mine.se.reduce, mine.se.expand, block.se, torch.arange(block.mid))


def warm_start(supernet: nn.Module, net: PretrainedNet) -> dict:
    """Every weight of ``supernet`` (an affine :class:`~.supernet.Supernet`) but the classifier's
    from ``net``; refused before any change when ``net`` does not fit the space. Returns what was
    inherited, for the log and the search's summary."""
    space = supernet.space
    if not supernet.affine:
        raise WarmStartError("a warm start needs a supernet with affine BatchNorm: Supernet(..., affine=True)")
    stages = check_fits(space, net)
    _copy_conv_bn(supernet.stem, net.stem)
    for mine, block in zip(supernet.fixed, net.blocks, strict=False):
        _inherit_block(mine, block)
    identity_layers = 0
    for layer, position in zip(supernet.layers, supernet.positions, strict=True):
        blocks, depth = stages[position.stage], position.layer
        identity = depth >= len(blocks)
        identity_layers += identity
        # beyond the pretrained depth: the stage's last block, where it has this layer's shape
        block = blocks[depth] if not identity else (blocks[-1] if blocks[-1].cin == position.cin else None)
        for op in layer.ops:
            inherit_op(op, block, identity)
    _copy_conv_bn(supernet.head, net.head)
    acts = sorted({p.act for p in supernet.positions} | {space.stem.act, space.head.act})
    return {
        "source": net.name,
        "stage_depths": [len(b) for b in stages],
        "identity_layers": identity_layers,
        "space_activations": acts,
    }
