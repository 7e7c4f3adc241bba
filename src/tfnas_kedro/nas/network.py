"""Stand-alone networks built from an :class:`~.arch.ArchDescription`."""

from __future__ import annotations

import torch
from torch import nn

from .arch import ArchDescription
from .blocks import ConvBNAct, MBInvRes


class TFNASNet(nn.Module):
    """stem -> MBInvRes blocks -> 1x1 head conv -> global average pool -> dropout -> classifier."""

    def __init__(self, arch: ArchDescription, drop_connect_rate: float = 0.0, zero_init_residual: bool = False):
        super().__init__()
        self.arch = arch
        self.stem = ConvBNAct(arch.in_channels, arch.stem.out, arch.stem.kernel, arch.stem.stride, act=arch.stem.act)
        n = len(arch.blocks)
        # drop-connect grows linearly with depth: early blocks carry the signal every later one needs
        self.blocks = nn.Sequential(*(MBInvRes(b, drop_connect_rate * i / n) for i, b in enumerate(arch.blocks)))
        self.head = ConvBNAct(arch.blocks[-1].out, arch.head.out, 1, act=arch.head.act)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(arch.dropout)
        self.classifier = nn.Linear(arch.head.out, arch.num_classes)
        self.reset_parameters(zero_init_residual)

    def reset_parameters(self, zero_init_residual: bool = False) -> None:
        """He-normal convolutions, unit BatchNorm, a near-zero classifier; with ``zero_init_residual``
        the last BatchNorm of every residual branch starts at gamma 0, so each residual block starts
        as the identity and the network as a shallow one (Goyal et al. 2017)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for block in self.blocks:
                if block.has_residual:
                    nn.init.zeros_(block.project[1].weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before dropout and the classifier, shape ``(N, head.out)``."""
        # (not while the ONNX exporter traces: the trace fixes the input's shape anyway)
        if not torch.jit.is_tracing() and min(x.shape[-2:]) < self.arch.total_stride:
            raise ValueError(
                f"input {tuple(x.shape[-2:])} is smaller than the network's total stride {self.arch.total_stride}"
            )
        x = self.head(self.blocks(self.stem(x)))
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.forward_features(x)))


def build_network(arch: ArchDescription, drop_connect_rate: float = 0.0, zero_init_residual: bool = False) -> TFNASNet:
    """The stand-alone network of ``arch``, freshly initialised; ``zero_init_residual`` starts every
    residual block as the identity (the retraining recipe's default; off elsewhere, e.g. for a
    supernet's subnet, whose BatchNorm has no affine parameters)."""
    if not 0.0 <= drop_connect_rate < 1.0:
        raise ValueError(f"drop_connect_rate must be in [0, 1), got {drop_connect_rate}")
    return TFNASNet(arch, drop_connect_rate, zero_init_residual)
