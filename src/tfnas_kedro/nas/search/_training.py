"""The Searcher's schedules, its weight and architecture steps, and what it derives from alpha,
beta and the widths between them: elasticity-scaling and the steering of the latency term."""

from __future__ import annotations

import math

import torch

from ..arch import ArchDescription
from ..elastic import ScalingResult, elasticity_scale, width_band
from ..errors import SearchError
from ..latency import expected_latency
from ..parallel import average_gradients, broadcast_object
from ..sampling import mixture_choice
from ..subnet import Subnet
from ..supernet import derive_architecture
from .steps import backward_architecture, backward_paths


class SearchTraining:
    """The steps of :class:`~.searcher.Searcher` (a mixin: the state lives there)."""

    # --- schedules -----------------------------------------------------------------------------
    def temperature(self, epoch: int) -> float:
        return self.config.tau * self.config.tau_decay ** max(0, epoch - self.config.warmup_epochs)

    def learning_rate(self, step: int, total: int) -> float:
        """Cosine from ``lr`` to 0 over all weight steps, in closed form (resume-safe)."""
        return 0.5 * self.config.lr * (1.0 + math.cos(math.pi * step / max(1, total)))

    # --- steps ---------------------------------------------------------------------------------
    def _check(self, loss: float, what: str) -> None:
        if not math.isfinite(loss):
            raise SearchError(
                f"{what} loss is {loss} at epoch {self.epoch}; the last good checkpoint "
                f"(end of epoch {self.epoch - 1}) is kept in {self.checkpoint_dir}. Lower the learning rate or resume."
            )

    def weight_step(self, x: torch.Tensor, y: torch.Tensor, paths: list[list[int]], lr: float) -> list[float]:
        """One SGD step on the summed cross-entropy of ``paths``; returns each path's loss."""
        for group in self.weight_optimizer.param_groups:
            group["lr"] = lr
        self.weight_optimizer.zero_grad(set_to_none=True)
        share, scaler = self._share(len(y)), self.weight_scaler
        losses = backward_paths(
            self.supernet, x, y, paths, self.alpha, self.beta, share, self._autocast, scaler,
            distill=self.config.distill_other_paths and len(paths) > 1,
        )  # fmt: skip
        average_gradients(self.supernet.parameters())
        losses = self._mean_over_ranks(losses)  # the one host wait of a step: the NaN guard and the log
        for loss in losses:
            self._check(loss, "weight")  # before the step: a NaN never reaches the weights
        scaler.unscale_(self.weight_optimizer)
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        scaler.step(self.weight_optimizer)  # skipped by an fp16 scaler when a gradient overflowed
        scaler.update()
        return losses

    def arch_step(self, x: torch.Tensor, y: torch.Tensor, tau: float, generator: torch.Generator) -> dict:
        """One Adam step on alpha and beta through the Gumbel-softmax mixture of every op and the
        sink-connected depths, with the latency term; gradients clipped to ``grad_clip``."""
        choice = mixture_choice(self.alpha, self.beta, tau, generator)
        latency = expected_latency(
            self.layer_ms, choice.op_weights, choice.depth_weights, self.supernet.stage_of_layer, self.fixed_ms
        )
        penalty = self.penalty(latency, self.loss_target_ms)
        self.arch_optimizer.zero_grad(set_to_none=True)
        params = self.alpha + self.beta
        scaler = self.arch_scaler
        ce, loss = backward_architecture(
            self.supernet, x, y, choice, penalty, params, self._share(len(y)), self._autocast, scaler
        )
        average_gradients(params)
        ce, loss, expected = self._mean_over_ranks([ce, loss, latency.detach()])
        self._check(loss, "architecture")  # before the step: a NaN never reaches alpha or beta
        scaler.unscale_(self.arch_optimizer)
        torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        scaler.step(self.arch_optimizer)
        scaler.update()
        self._refresh_host_copy()
        return {"arch_loss": loss, "arch_ce": ce, "expected_ms": expected}

    def _on_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return x, y.to(self.device, non_blocking=True)

    # --- derivation and widths -----------------------------------------------------------------
    def strongest(self) -> Subnet:
        """The subnet of argmax alpha and beta at the supernet's current widths."""
        return Subnet.strongest(self.space, self.host_alpha, self.host_beta, self.supernet.widths())

    def derived(self, name: str = "searched") -> ArchDescription:
        return derive_architecture(
            self.space, self.alpha, self.beta, self.supernet.widths(), self.num_classes, name=name
        )

    def scale_widths(self) -> tuple[ScalingResult, int]:
        """Elasticity-scaling of the derived architecture's ops to the target; returns the result
        and how many ops re-picked their channels (only those whose width changed)."""
        result = elasticity_scale(self.table, self.space, self.strongest(), self.target_ms)
        if self.ranks.parallel and broadcast_object(result.widths) != result.widths:
            raise SearchError(
                f"rank {self.ranks.rank} derived other widths than rank 0 at epoch {self.epoch}: the processes "
                "diverged (alpha and beta are no longer the same); resume from the last checkpoint"
            )
        changed = self.supernet.set_widths(result.widths)
        self.layer_ms = self._layer_ms()
        self.last_scaling = result
        return result, changed

    def steer(self, band_ms: tuple[float, float], gain: float = 1.0) -> None:
        """Move the latency term's target until widths have room on both sides of the target.

        The latency term pulls the *expected* latency of the op and depth distributions to its
        target, while the architecture derived from them is their *argmax*. While the distributions
        are broad (a short search) the two differ, and elasticity-scaling can only fit the target
        when it lies in ``band_ms``, what the derived ops and depths reach between their narrowest
        and widest widths. Landing just inside an end of that band is not enough: one op that flips
        to a dearer (or cheaper) one, in the last epoch too, puts the target outside. So when the
        target lies outside the band's middle part (``feedback_margin`` of the band kept free at
        each end), the latency term's target is multiplied by ``(target / anchor) ** gain``,
        ``anchor`` being the nearest point of that middle part (integral control); the expectation
        then moves on until the argmax reaches ops and depths whose band has the target well
        inside. Inside the middle part it stays put. It never leaves the space's reachable range.
        """
        low, high = band_ms
        margin = self.config.feedback_margin * (high - low)
        target = self.target_ms
        anchor = min(max(target, low + margin), high - margin)
        if anchor != target:
            steered = self.loss_target_ms * (target / anchor) ** gain
            self.loss_target_ms = min(max(steered, self.reachable_ms[0]), self.reachable_ms[1])

    def derived_band(self) -> tuple[float, float]:
        """:func:`~.elastic.width_band` of the ops and depths derived now (argmax alpha and beta)."""
        return width_band(self.table, self.space, self.strongest())
