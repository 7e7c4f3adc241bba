"""Data parallelism inside the search: each process takes its share of every global batch, and
these functions make the processes compute what one process would on the whole batch.

* :func:`batch_norm` normalises with the statistics of the global batch (summed over processes,
  differentiably), so the result does not depend on how the batch is split;
* :func:`average_gradients` averages gradients over the processes after a backward pass;
* :func:`all_mean` averages a few numbers (losses, counts) for the history.

Without an initialised ``torch.distributed`` group of more than one process, all of them do the
single-process thing, with no communication.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

BN_EPS = 1e-5


@dataclass(frozen=True)
class Ranks:
    """This process's place among the data-parallel processes."""

    rank: int = 0
    world_size: int = 1

    @classmethod
    def current(cls) -> Ranks:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world_size > 1

    def share(self, n: int) -> slice:
        """This process's rows of a batch of ``n``: contiguous, as even as ``n`` allows."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))


ONE_PROCESS = Ranks()


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose backward sums the gradients over processes too (each process's
    statistics feed every process's output)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


def differentiable_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the processes, with gradients flowing back to every process."""
    return _AllReduceSum.apply(tensor)


def batch_norm(
    x: torch.Tensor, weight: torch.Tensor | None = None, synchronised: bool = False, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """BatchNorm with the batch's statistics, no running statistics and an optional per-channel
    ``weight`` and ``bias``. ``synchronised``: the statistics of the global batch, every process holding a share
    of it (gradients flow through the sums to every process, as in ``nn.SyncBatchNorm``)."""
    if not synchronised:
        return F.batch_norm(x, None, None, weight, bias, training=True, eps=BN_EPS)
    dtype, x = x.dtype, x.float()  # statistics in fp32 also under autocast
    dims = [0, *range(2, x.dim())]
    count = torch.tensor([x.numel() / x.shape[1]], device=x.device)
    sums = differentiable_sum(torch.cat([x.sum(dims), count]))  # one message: the channel sums and the count
    mean = sums[:-1] / sums[-1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    centred = x - mean.view(shape)
    # a second pass over the centred values: the precision of F.batch_norm's, not E[x^2] - E[x]^2
    var = differentiable_sum((centred * centred).sum(dims)) / sums[-1].detach()
    scale = torch.rsqrt(var + BN_EPS)
    if weight is not None:
        scale = scale * weight
    out = centred * scale.view(shape)
    return (out if bias is None else out + bias.view(shape)).to(dtype)


def average_gradients(params) -> None:
    """Replace each gradient by its mean over the processes (one message for all of them)."""
    _average_in_place([p.grad for p in params if p.grad is not None])


def average_parameters(params) -> None:
    """Replace each parameter by its mean over the processes (one message for all of them)."""
    _average_in_place([p.data for p in params])


def _average_in_place(tensors: list[torch.Tensor]) -> None:
    ranks = Ranks.current()
    if not ranks.parallel or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= ranks.world_size
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over the processes (a new tensor)."""
    values = values.clone()
    if Ranks.current().parallel:
        dist.all_reduce(values)
    return values


def broadcast_object(obj, source: int = 0):
    """``obj`` as process ``source`` has it, on every process."""
    if not Ranks.current().parallel:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=source)
    return box[0]
