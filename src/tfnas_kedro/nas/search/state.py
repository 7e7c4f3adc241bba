"""What a search changes as it runs, and what its checkpoint holds: the supernet, alpha and beta,
both optimisers and loss scalers, the epoch, the latency term's target and the history."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from ..elastic import ScalingResult
from ..supernet import Supernet
from .setup import SearchSetup


@dataclass(eq=False)
class SearchState:
    """The changing part of a search (the fixed part is :class:`~.setup.SearchSetup`)."""

    supernet: Supernet
    alpha: list[torch.Tensor]  # per searchable position, a logit per candidate op
    beta: list[torch.Tensor]  # per stage, a logit per depth
    weight_optimizer: torch.optim.Optimizer
    arch_optimizer: torch.optim.Optimizer
    weight_scaler: torch.amp.GradScaler
    arch_scaler: torch.amp.GradScaler
    layer_ms: list[torch.Tensor]  # the table's latency of every op at the supernet's widths
    loss_target_ms: float | None  # the latency term's T (steered: SearchSteps.steer)
    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    last_scaling: ScalingResult | None = None
    start_accuracy: dict | None = None  # a warm start's scores before the first step
    # alpha and beta on the CPU, for choosing paths and derived ops without a device round trip per
    # layer (one copy after each architecture step)
    host_alpha: list[torch.Tensor] = field(default_factory=list)
    host_beta: list[torch.Tensor] = field(default_factory=list)

    @classmethod
    def create(cls, setup: SearchSetup) -> SearchState:
        """A new search's state: the supernet from the seed (affine BatchNorm when warm-started:
        nas/warm_start.py keeps the pretrained scales and shifts), alpha and beta uniform."""
        config, device = setup.config, setup.device
        torch.manual_seed(config.seed)
        supernet = Supernet(setup.space, setup.num_classes, affine=config.init != "scratch")
        supernet = supernet.to(device, memory_format=setup.memory_format)
        if setup.ranks.parallel:
            supernet.synchronise_batch_norm()
        alpha = [torch.zeros(len(p.ops), device=device, requires_grad=True) for p in setup.space.positions()]
        beta = [torch.zeros(s.max_depth, device=device, requires_grad=True) for s in setup.space.stages]
        fp16 = setup.amp == torch.float16
        state = cls(
            supernet=supernet,
            alpha=alpha,
            beta=beta,
            weight_optimizer=torch.optim.SGD(
                supernet.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            ),
            arch_optimizer=torch.optim.Adam(
                alpha + beta, lr=config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay
            ),
            weight_scaler=torch.amp.GradScaler(device.type, enabled=fp16),
            arch_scaler=torch.amp.GradScaler(device.type, enabled=fp16),
            layer_ms=setup.layer_ms(supernet.widths()),
            loss_target_ms=setup.target_ms,
        )
        state.refresh_host_copy()
        return state

    def refresh_host_copy(self) -> None:
        params = self.alpha + self.beta
        flat = torch.cat([p.detach() for p in params]).cpu()
        parts = list(flat.split([p.numel() for p in params]))
        self.host_alpha, self.host_beta = parts[: len(self.alpha)], parts[len(self.alpha) :]

    def saved(self) -> dict:
        """The tensors and counters a checkpoint holds (:class:`~.checkpointer.SearchCheckpointer`)."""
        return {
            "epoch": self.epoch,
            "supernet": self.supernet.state_dict(),
            "loss_target_ms": self.loss_target_ms,
            "alpha": [a.detach().cpu().clone() for a in self.alpha],
            "beta": [b.detach().cpu().clone() for b in self.beta],
            "widths": self.supernet.widths(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "scalers": [self.weight_scaler.state_dict(), self.arch_scaler.state_dict()],
            "history": self.history,
        }

    def restore(self, saved: dict, setup: SearchSetup, target_free: bool) -> None:
        """Take over a checkpoint's tensors and counters (:meth:`saved`). ``target_free``: a state
        from within the warm-up, which may start any target's search: the latency term's target and
        the history's targets become this search's."""
        self.supernet.load_state_dict(saved["supernet"])
        with torch.no_grad():
            for mine, theirs in zip(self.alpha + self.beta, saved["alpha"] + saved["beta"], strict=True):
                mine.copy_(theirs)
        # copies: an optimiser keeps the tensors it is given, and a warm-up state may start several searches
        self.weight_optimizer.load_state_dict(copy.deepcopy(saved["weight_optimizer"]))
        self.arch_optimizer.load_state_dict(copy.deepcopy(saved["arch_optimizer"]))
        for scaler, state in zip((self.weight_scaler, self.arch_scaler), saved.get("scalers", ()), strict=False):
            if state:  # an fp16 search's loss scales (empty when saved without fp16)
                scaler.load_state_dict(state)
        self.refresh_host_copy()
        self.layer_ms = setup.layer_ms(self.supernet.widths())
        self.epoch = saved["epoch"]
        target = setup.target_ms
        self.loss_target_ms = target if target_free else saved["loss_target_ms"]
        self.history = [
            {**row, "target_ms": target, "loss_target_ms": target} if target_free else row for row in saved["history"]
        ]
