"""Multiply-accumulate and parameter counts of an architecture description.

The analytical counts follow the usual convention of the NAS literature: MACs of convolutions and
the classifier (BatchNorm, activations, pooling and the SE multiply are not counted). They agree
exactly with :mod:`torch.utils.flop_counter` on the built network, which a test checks.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .arch import ArchDescription, BlockSpec


def _conv_macs(cin: int, cout: int, kernel: int, groups: int, out_side: int) -> int:
    return out_side * out_side * cout * (cin // groups) * kernel * kernel


def count_macs(arch: ArchDescription, resolution: int | None = None) -> int:
    """MACs of one image at ``resolution`` (the description's own resolution by default)."""
    sizes = arch.feature_sizes(resolution)
    stem_side = sizes[0]
    macs = _conv_macs(arch.in_channels, arch.stem.out, arch.stem.kernel, 1, stem_side)
    for block, side in zip(arch.blocks, sizes, strict=False):
        out_side = -(-side // block.stride)
        if block.has_expansion:
            macs += _conv_macs(block.in_, block.mid, 1, 1, side)
        macs += _conv_macs(block.mid, block.mid, block.kernel, block.mid, out_side)
        if block.se:
            macs += 2 * block.mid * block.se
        macs += _conv_macs(block.mid, block.out, 1, 1, out_side)
    macs += _conv_macs(arch.blocks[-1].out, arch.head.out, 1, 1, sizes[-1])
    macs += arch.head.out * arch.num_classes
    return macs


def _conv_bn_params(cin: int, cout: int, kernel: int, groups: int = 1) -> int:
    return cout * (cin // groups) * kernel * kernel + 2 * cout


def block_params(b: BlockSpec) -> int:
    """Trainable parameters of one block: what a network streams from memory to run it."""
    params = _conv_bn_params(b.in_, b.mid, 1) if b.has_expansion else 0
    params += _conv_bn_params(b.mid, b.mid, b.kernel, b.mid)
    if b.se:
        params += (b.mid * b.se + b.se) + (b.se * b.mid + b.mid)
    return params + _conv_bn_params(b.mid, b.out, 1)


def count_params(arch: ArchDescription) -> int:
    """Trainable parameters (conv weights, BatchNorm scale and shift, SE and classifier biases)."""
    params = _conv_bn_params(arch.in_channels, arch.stem.out, arch.stem.kernel)
    params += sum(block_params(b) for b in arch.blocks)
    params += _conv_bn_params(arch.blocks[-1].out, arch.head.out, 1)
    params += arch.head.out * arch.num_classes + arch.num_classes
    return params


def measure_macs(model: nn.Module, resolution: int, in_channels: int = 3) -> int:
    """MACs of one image as counted by :class:`torch.utils.flop_counter.FlopCounterMode`."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, in_channels, resolution, resolution, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
