"""Building blocks of the stand-alone networks: conv-BN-activation, squeeze-excitation, MBInvRes."""

from __future__ import annotations

import torch
from torch import nn

from . import parallel
from .arch import BlockSpec

_ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "swish": nn.SiLU, "hswish": nn.Hardswish}


def make_activation(name: str, inplace: bool = True) -> nn.Module:
    return _ACTIVATIONS[name](inplace=inplace)


class SearchBatchNorm(nn.Module):
    """BatchNorm during search: without running statistics, because widths and paths change from
    step to step and only the current batch's statistics are meaningful; over the global batch when
    ``synchronised`` (data-parallel search). Without affine parameters, as in the paper, unless
    ``affine``: a supernet warm-started from a pretrained network keeps its scales and shifts."""

    def __init__(self, channels: int = 0, affine: bool = False):
        super().__init__()
        self.synchronised = False
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return parallel.batch_norm(x, self.weight, self.synchronised, self.bias)


def batch_norm(channels: int, search: bool = False, affine: bool = False) -> nn.Module:
    """BatchNorm of a stand-alone network, or :class:`SearchBatchNorm` in the supernet."""
    return SearchBatchNorm(channels, affine) if search else nn.BatchNorm2d(channels)


class ConvBNAct(nn.Sequential):
    """``k x k`` conv with 'same' padding and no bias, BatchNorm, then the activation (if any)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
        search: bool = False,
        affine: bool = False,
    ):
        layers = [
            nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
            batch_norm(cout, search, affine),
        ]
        if act is not None:
            layers.append(make_activation(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel gate: global pool -> 1x1 conv (bias) -> act -> 1x1 conv (bias) -> sigmoid -> scale."""

    def __init__(self, channels: int, hidden: int, act: str):
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1, bias=True)
        self.act = make_activation(act)
        self.expand = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean((2, 3), keepdim=True)
        gate = self.expand(self.act(self.reduce(gate)))
        return x * torch.sigmoid(gate)


def drop_connect(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Drop whole residual branches per sample (stochastic depth), rescaling the survivors."""
    if not training or rate == 0.0:
        return x
    keep = 1.0 - rate
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class MBInvRes(nn.Module):
    """Inverted residual block as described by a :class:`~.arch.BlockSpec`.

    No expansion conv when ``mid == in`` (the first block of the TF-NAS spaces); SE acts on the
    depthwise output; the projection has no activation; the residual exists only for stride 1
    with ``in == out``, and carries drop-connect while training.
    """

    def __init__(self, spec: BlockSpec, drop_connect_rate: float = 0.0, search: bool = False, affine: bool = False):
        super().__init__()
        self.spec = spec
        self.drop_connect_rate = drop_connect_rate
        s, bn = spec, {"search": search, "affine": affine}
        self.expand = ConvBNAct(s.in_, s.mid, 1, act=s.act, **bn) if s.has_expansion else nn.Identity()
        self.depthwise = ConvBNAct(s.mid, s.mid, s.kernel, s.stride, groups=s.mid, act=s.act, **bn)
        self.se = SqueezeExcite(s.mid, s.se, s.act) if s.se else nn.Identity()
        self.project = ConvBNAct(s.mid, s.out, 1, act=None, **bn)

    @property
    def has_residual(self) -> bool:
        return self.spec.has_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        if self.has_residual:
            return x + drop_connect(y, self.drop_connect_rate, self.training)
        return y

    def extra_repr(self) -> str:
        s = self.spec
        return f"k={s.kernel}, in={s.in_}, mid={s.mid}, se={s.se}, out={s.out}, stride={s.stride}, act={s.act}"
