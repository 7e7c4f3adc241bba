"""BatchNorm over the global batch of all processes, on any device.

``nn.SyncBatchNorm`` runs only on GPUs (DDP refuses it on the CPU), so data-parallel training with
gloo on CPUs would normalise each process's half-batch on its own and no longer compute what one
process computes. :class:`GlobalBatchNorm2d` sums per-channel count, sum and sum of squares over the
processes with an all-reduce that is differentiable, so the forward pass and the gradients (which flow
back through the shared statistics to every process) are those of the whole batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from tfnas_kedro.nas.parallel import differentiable_sum


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training statistics cover every process's batch (same state dict)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        local = torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), x.new_tensor([x.numel() / channels])])
        total = differentiable_sum(local)
        count = total[-1]
        mean = total[:channels] / count
        var = total[channels : 2 * channels] / count - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked + 1)
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(var * count / (count - 1), momentum)  # unbiased, as BatchNorm keeps it
                self.num_batches_tracked += 1
        shape = (1, channels, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def synchronise_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every ``BatchNorm2d`` of ``model`` made to normalise over all processes' batches:
    ``nn.SyncBatchNorm`` (fused kernels) on CUDA, :class:`GlobalBatchNorm2d` elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = GlobalBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            replacement.load_state_dict(child.state_dict())
            setattr(model, name, replacement)
        else:
            synchronise_batchnorm(child, device)
    return model
