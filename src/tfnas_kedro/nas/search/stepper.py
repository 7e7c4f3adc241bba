"""A search's schedules, its weight and architecture steps on a :class:`~.state.SearchState`, and
what it derives from alpha, beta and the widths between them: elasticity-scaling and the steering
of the latency term."""

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
from .setup import SearchSetup
from .state import SearchState
from .steps import backward_architecture, backward_paths


class SearchSteps:
    """The steps of one search: each changes ``state`` as :class:`~.setup.SearchSetup` says."""

    def __init__(self, setup: SearchSetup, state: SearchState):
        self.setup, self.state = setup, state

    # --- schedules -----------------------------------------------------------------------------
    def temperature(self, epoch: int) -> float:
        c = self.setup.config
        return c.tau * c.tau_decay ** max(0, epoch - c.warmup_epochs)

    def learning_rate(self, step: int, total: int) -> float:
        """Cosine from ``lr`` to 0 over all weight steps, in closed form (resume-safe)."""
        return 0.5 * self.setup.config.lr * (1.0 + math.cos(math.pi * step / max(1, total)))

    # --- steps ---------------------------------------------------------------------------------
    def _check(self, loss: float, what: str) -> None:
        if not math.isfinite(loss):
            epoch = self.state.epoch
            raise SearchError(
                f"{what} loss is {loss} at epoch {epoch}; the last good checkpoint (end of epoch {epoch - 1}) "
                f"is kept in {self.setup.checkpoint_dir}. Lower the learning rate or resume."
            )

    def weight_step(self, x: torch.Tensor, y: torch.Tensor, paths: list[list[int]], lr: float) -> list[float]:
        """One SGD step on the summed cross-entropy of ``paths``; returns each path's loss."""
        s, setup = self.state, self.setup
        for group in s.weight_optimizer.param_groups:
            group["lr"] = lr
        s.weight_optimizer.zero_grad(set_to_none=True)
        scaler = s.weight_scaler
        losses = backward_paths(
            s.supernet, x, y, paths, s.alpha, s.beta, setup.share(len(y)), setup.autocast, scaler,
            distill=setup.config.distill_other_paths and len(paths) > 1,
        )  # fmt: skip
        average_gradients(s.supernet.parameters())
        losses = setup.mean_over_ranks(losses)  # the one host wait of a step: the NaN guard and the log
        for loss in losses:
            self._check(loss, "weight")  # before the step: a NaN never reaches the weights
        scaler.unscale_(s.weight_optimizer)
        torch.nn.utils.clip_grad_norm_(s.supernet.parameters(), setup.config.grad_clip)
        scaler.step(s.weight_optimizer)  # skipped by an fp16 scaler when a gradient overflowed
        scaler.update()
        return losses

    def arch_step(self, x: torch.Tensor, y: torch.Tensor, tau: float, generator: torch.Generator) -> dict:
        """One Adam step on alpha and beta through the Gumbel-softmax mixture of every op and the
        sink-connected depths, with the latency term; gradients clipped to ``grad_clip``."""
        s, setup = self.state, self.setup
        choice = mixture_choice(s.alpha, s.beta, tau, generator)
        latency = expected_latency(
            s.layer_ms, choice.op_weights, choice.depth_weights, s.supernet.stage_of_layer, setup.fixed_ms
        )
        penalty = setup.penalty(latency, s.loss_target_ms)
        s.arch_optimizer.zero_grad(set_to_none=True)
        params, scaler = s.alpha + s.beta, s.arch_scaler
        ce, loss = backward_architecture(
            s.supernet, x, y, choice, penalty, params, setup.share(len(y)), setup.autocast, scaler
        )
        average_gradients(params)
        ce, loss, expected = setup.mean_over_ranks([ce, loss, latency.detach()])
        self._check(loss, "architecture")  # before the step: a NaN never reaches alpha or beta
        scaler.unscale_(s.arch_optimizer)
        torch.nn.utils.clip_grad_norm_(params, setup.config.grad_clip)
        scaler.step(s.arch_optimizer)
        scaler.update()
        s.refresh_host_copy()
        return {"arch_loss": loss, "arch_ce": ce, "expected_ms": expected}

    # --- derivation and widths -----------------------------------------------------------------
    def strongest(self) -> Subnet:
        """The subnet of argmax alpha and beta at the supernet's current widths."""
        s = self.state
        return Subnet.strongest(self.setup.space, s.host_alpha, s.host_beta, s.supernet.widths())

    def derived(self, name: str = "searched") -> ArchDescription:
        s, setup = self.state, self.setup
        return derive_architecture(setup.space, s.alpha, s.beta, s.supernet.widths(), setup.num_classes, name=name)

    def scale_widths(self) -> tuple[ScalingResult, int]:
        """Elasticity-scaling of the derived architecture's ops to the target; returns the result
        and how many ops re-picked their channels (only those whose width changed)."""
        s, setup = self.state, self.setup
        result = elasticity_scale(setup.table, setup.space, self.strongest(), setup.target_ms)
        if setup.ranks.parallel and broadcast_object(result.widths) != result.widths:
            raise SearchError(
                f"rank {setup.ranks.rank} derived other widths than rank 0 at epoch {s.epoch}: the processes "
                "diverged (alpha and beta are no longer the same); resume from the last checkpoint"
            )
        changed = s.supernet.set_widths(result.widths)
        s.layer_ms = setup.layer_ms(s.supernet.widths())
        s.last_scaling = result
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
        margin = self.setup.config.feedback_margin * (high - low)
        target = self.setup.target_ms
        anchor = min(max(target, low + margin), high - margin)
        if anchor != target:
            steered = self.state.loss_target_ms * (target / anchor) ** gain
            reachable = self.setup.reachable_ms
            self.state.loss_target_ms = min(max(steered, reachable[0]), reachable[1])

    def derived_band(self) -> tuple[float, float]:
        """:func:`~.elastic.width_band` of the ops and depths derived now (argmax alpha and beta)."""
        return width_band(self.setup.table, self.setup.space, self.strongest())
