"""The TF-NAS search loop: alternating weight and architecture steps, elasticity-scaling per epoch,
checkpoints after every epoch, and resume.

Every epoch starts from RNG states derived from the seed and the epoch number, so a search that
is killed and resumed from its last checkpoint replays the interrupted epoch exactly and ends with
the same architecture as one that never stopped.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from .arch import ArchDescription
from .checkpoints import check_format, check_same_run, epoch_seed, load_checkpoint, save_atomic
from .elastic import ScalingResult, elasticity_scale, width_band
from .errors import SearchError
from .latency import LatencyTable, expected_latency
from .parallel import Ranks, all_sum, average_gradients, broadcast_object
from .penalty import LatencyPenalty, check_reachable
from .progress import EpochProgress
from .sampling import PathChoice, bi_sample, gumbel_path, mixture_choice, path_choice, uniform_path
from .seeding import seed_everything
from .space import SearchSpace
from .subnet import Subnet
from .supernet import Supernet, derive_architecture

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 2  # 2: each elastic op holds its active channels
RANDOM_PATHS = 3  # uniformly drawn paths scored every epoch beside the derived one
RANDOM_PATHS_SEED = 7919


class SearchConfig(BaseModel):
    """The method's settings (docs/method.md section 7; defaults are the paper's). The latency
    target and its weight are one search's :class:`~.penalty.LatencyPenalty`, not settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(90, ge=1)
    warmup_epochs: int = Field(10, ge=0)
    lr: float = Field(0.025, gt=0)
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(1e-5, ge=0)
    grad_clip: float = Field(5.0, gt=0)
    arch_lr: float = Field(0.01, gt=0)
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = Field(5e-4, ge=0)
    arch_every: int = Field(2, ge=1)
    tau: float = Field(5.0, gt=0)
    tau_decay: float = Field(0.96, gt=0, le=1)
    bisampling: bool = True
    # in-place distillation (the sandwich rule of BigNAS / once-for-all): after the warm-up, every
    # path after the first of a weight step learns the first path's predictions (soft targets)
    # instead of the labels, so that paths alpha does not favour learn from the one it does
    distill_other_paths: bool = False
    elasticity: bool = True
    # steer the latency term's target until the target sits inside what widths can reach for the
    # derived ops and depths, ``feedback_margin`` of that band away from either end (Searcher.steer)
    latency_feedback: bool = False
    feedback_margin: float = Field(0.2, ge=0, lt=0.5)
    eval_batches: int | None = Field(None, ge=1)
    log_every: int = Field(50, ge=1)  # weight steps between progress lines when the output is not a terminal
    seed: int = 0

    def run_settings(self, warmup: bool = False) -> dict:
        """The settings that identify a search: its checkpoint folder is named after them and a
        resume compares them. Left out: those a resume may change (``RESUMABLE``), settings added
        since a checkpoint format while they keep their default (``ADDED_LATER``: older searches
        still resume), and, for a ``warmup``, those that act only after it (``AFTER_WARMUP``: one
        warm-up starts searches that differ in them)."""
        left_out = RESUMABLE | (AFTER_WARMUP if warmup else frozenset())
        fields = type(self).model_fields
        return {
            key: value
            for key, value in self.model_dump(mode="json").items()
            if key not in left_out and not (key in ADDED_LATER and value == fields[key].default)
        }


RESUMABLE = frozenset({"epochs", "log_every"})  # more epochs continue the same search
# the architecture step's settings and what the weight steps sample once alpha learns
AFTER_WARMUP = frozenset({
    "arch_lr", "arch_betas", "arch_weight_decay", "arch_every", "tau", "tau_decay", "bisampling", "elasticity",
    "latency_feedback", "feedback_margin", "distill_other_paths",
})  # fmt: skip
ADDED_LATER = frozenset({"distill_other_paths"})


def backward_paths(
    supernet: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    paths: list[list[int]],
    alpha,
    beta,
    scale=1.0,
    autocast=nullcontext,
    scaler: torch.amp.GradScaler | None = None,
    distill: bool = False,
) -> list[torch.Tensor]:
    """Cross-entropy of each single path, back-propagated one path at a time so that only one
    path's activations are alive at once; gradients accumulate. Returns the (detached) cross-entropy
    of each path. With ``distill``, every path after the first learns the first path's softmax
    (detached: the teacher gets no gradient from its students) instead of the labels.
    ``scale`` multiplies each loss (a process's share of a global batch, see ``Searcher._share``);
    the forward runs in ``autocast()``, the backward of ``scaler.scale(loss)`` when given."""
    losses, teacher = [], None
    for path in paths:
        with autocast():
            logits = supernet(x, path_choice(path, alpha, beta)).float()
        ce = F.cross_entropy(logits, y) * scale
        loss = ce if teacher is None else F.cross_entropy(logits, teacher) * scale
        if distill and teacher is None:
            teacher = torch.softmax(logits.detach(), dim=-1)
        (loss if scaler is None else scaler.scale(loss)).backward()
        losses.append(ce.detach())
    return losses


def backward_architecture(
    supernet: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    choice: PathChoice,
    penalty: torch.Tensor,
    params,
    scale=1.0,
    autocast=nullcontext,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the mixture ``choice`` plus ``penalty`` (the latency term), back-propagated
    into ``params`` (alpha and beta) only. The weights are frozen in an architecture step: with
    ``requires_grad`` off, autograd neither records their use nor keeps what their gradients would
    need. Returns the (detached) cross-entropy and loss; ``scale``, ``autocast`` and ``scaler`` as
    in :func:`backward_paths`."""
    with frozen(supernet):
        with autocast():
            ce = F.cross_entropy(supernet(x, choice), y).float() * scale
        loss = ce + penalty
        (loss if scaler is None else scaler.scale(loss)).backward(inputs=list(params))
    return ce.detach(), loss.detach()


@contextmanager
def frozen(module: torch.nn.Module):
    """``module``'s parameters without ``requires_grad`` inside the block, as they were after it."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in trainable:
            p.requires_grad_(True)


class Searcher:
    """Owns the supernet, ``alpha``/``beta``, both optimisers and the history of one search.

    Data-parallel: in a ``torch.distributed`` group of several processes, each process runs its own
    Searcher on its share of every global batch; BatchNorm uses the global batch's statistics, the
    gradients of the weights and of alpha/beta are averaged, and every process draws the same paths
    from the same seeded sampler, so all of them hold the state one process would. Only rank 0
    writes checkpoints; a resume reads rank 0's and hands it to the others.
    """

    def __init__(
        self,
        space: SearchSpace,
        table: LatencyTable,
        num_classes: int,
        config: SearchConfig,
        device: torch.device,
        penalty: LatencyPenalty | None = None,
        checkpoint_dir: str | Path | None = None,
        channels_last: bool = False,
        checkpoint_every: int = 1,
        amp: torch.dtype | None = None,
    ):
        """``penalty`` holds the latency target; without one only the warm-up can run (:meth:`run`)."""
        # refused here, before any training, when no architecture of the space could meet the target
        self.reachable_ms = (
            check_reachable(table, space, penalty.target_ms) if penalty else table.reachable_range(space)
        )
        self.space = space.at_resolution(table.meta.resolution)
        self.table, self.config, self.penalty, self.device = table, config, penalty, device
        self.num_classes = num_classes
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        # epochs between checkpoints (the last one is always written): a resumed search replays the
        # epochs since, exactly, so this trades rework after a crash for time saving a big supernet
        self.checkpoint_every = checkpoint_every
        torch.manual_seed(config.seed)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        # mixed precision (CUDA: bf16, or fp16 with loss scaling); alpha, beta and the latency term stay fp32
        self.amp = amp
        self.weight_scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
        self.arch_scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
        self.supernet = Supernet(self.space, num_classes).to(device, memory_format=self.memory_format)
        self.ranks = Ranks.current()
        if self.ranks.parallel:
            self.supernet.synchronise_batch_norm()
        positions = self.space.positions()
        self.alpha = [torch.zeros(len(p.ops), device=device, requires_grad=True) for p in positions]
        self.beta = [torch.zeros(s.max_depth, device=device, requires_grad=True) for s in self.space.stages]
        self._refresh_host_copy()
        self.weight_optimizer = torch.optim.SGD(
            self.supernet.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.arch_optimizer = torch.optim.Adam(
            self.alpha + self.beta, lr=config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay
        )
        self.fixed_ms = table.fixed_ms + table.fixed_blocks_ms(self.space)
        self.layer_ms = self._layer_ms()
        self.loss_target_ms = self.target_ms  # the latency term's T (steered; see steer())
        self.epoch = 0
        self.history: list[dict] = []
        self.last_scaling: ScalingResult | None = None

    @property
    def target_ms(self) -> float | None:
        return None if self.penalty is None else self.penalty.target_ms

    def settings(self) -> dict:
        """The method's settings with the latency target and its weight: what a checkpoint records."""
        lam = None if self.penalty is None else self.penalty.weight
        return self.config.model_dump() | {"target_ms": self.target_ms, "latency_lambda": lam}

    def _layer_ms(self) -> list[torch.Tensor]:
        """The table's latency of every op at its current width, on the search device."""
        return [ms.to(self.device) for ms in self.table.layer_matrix(self.space, self.supernet.widths())]

    def _refresh_host_copy(self) -> None:
        """alpha and beta on the CPU, for choosing paths and derived ops without a device round trip
        per layer (one copy after each architecture step)."""
        params = self.alpha + self.beta
        flat = torch.cat([p.detach() for p in params]).cpu()
        parts = list(flat.split([p.numel() for p in params]))
        self.host_alpha, self.host_beta = parts[: len(self.alpha)], parts[len(self.alpha) :]

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None)

    def _share(self, n: int):
        """What this process's ``n`` examples weigh against an even share of the global batch: the
        mean over processes of ``loss * share`` is then the global batch's mean loss, however the
        batch was split (a last, short batch may split unevenly). A device tensor: no host wait."""
        if not self.ranks.parallel:
            return 1.0
        total = all_sum(torch.tensor(float(n), device=self.device))
        return n * self.ranks.world_size / total

    def _mean_over_ranks(self, values: list[torch.Tensor]) -> list[float]:
        """Per-process values averaged over the processes, on the host (one wait per call)."""
        stacked = torch.stack([v.float().reshape(()) for v in values])
        if self.ranks.parallel:
            stacked = all_sum(stacked) / self.ranks.world_size
        return stacked.tolist()

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

    @torch.no_grad()
    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Top-1 of the derived ops (argmax alpha) through the supernet, batch statistics:
        ``val_top1`` with the sink-connected stage outputs weighted by ``softmax(beta)``, as the
        weights were trained; ``val_top1_single_depth`` with the argmax depth of each stage only,
        the network derivation will build; ``val_top1_random_paths``, the mean over
        ``RANDOM_PATHS`` uniformly drawn ops per layer (the same ones every epoch). The loader
        should mix the classes within each batch (batch statistics)."""
        subnet = Subnet.strongest(self.space, self.alpha, self.beta, self.supernet.widths())
        ops, depths = list(subnet.ops), list(subnet.depths)
        depth_weights = [torch.softmax(b.detach(), 0) for b in self.beta]
        choices = {
            "val_top1": PathChoice(path=ops, depth_weights=depth_weights),
            "val_top1_single_depth": PathChoice(path=ops, depths=depths),
        }
        # the same uniformly drawn paths every epoch: whether the supernet has trained a space or
        # only the path alpha prefers (learning_status)
        generator = torch.Generator().manual_seed(self.config.seed + RANDOM_PATHS_SEED)
        for k in range(RANDOM_PATHS):
            choices[f"random_path_{k}"] = PathChoice(
                uniform_path(self.host_alpha, generator), depth_weights=depth_weights
            )
        counts = torch.zeros(len(choices) + 1, device=self.device)  # correct per choice, then examples
        for i, (x, y) in enumerate(loader):
            if self.config.eval_batches is not None and i >= self.config.eval_batches:
                break
            x, y = self._on_device(x, y)
            for k, choice in enumerate(choices.values()):
                with self._autocast():
                    counts[k] += (self.supernet(x, choice).argmax(1) == y).sum()
            counts[-1] += len(y)
        counts = all_sum(counts).tolist()  # every process's share of the validation batches
        top1 = {key: counts[k] / max(1, counts[-1]) for k, key in enumerate(choices)}
        random = [top1.pop(f"random_path_{k}") for k in range(RANDOM_PATHS)]
        return top1 | {"val_top1_random_paths": float(np.mean(random))}

    # --- the loop ------------------------------------------------------------------------------
    def run(
        self,
        weight_loader,
        arch_loader,
        val_loader,
        on_step: Callable[[int, int], None] | None = None,
        until: int | None = None,
        progress: bool = True,
    ) -> list[dict]:
        """Run the remaining epochs (up to epoch ``until`` if given). The loaders' generators are
        re-seeded every epoch. Without a target only the warm-up can run: nothing before the first
        architecture step depends on the target, so one warm-up can start searches for several."""
        c = self.config
        until = c.epochs if until is None else min(until, c.epochs)
        if self.penalty is None and until > c.warmup_epochs:
            raise SearchError(f"a search without a target can only run its {c.warmup_epochs} warm-up epochs")
        while self.epoch < until:
            epoch, started = self.epoch, time.perf_counter()
            sampler = self._seed_epoch(epoch, weight_loader, arch_loader)
            tau, warm = self.temperature(epoch), epoch < c.warmup_epochs
            totals = self._train_epoch(
                epoch, weight_loader, arch_loader, sampler, on_step, progress and self.ranks.is_main
            )
            scaling, repicked = self.scale_widths() if (c.elasticity and not warm) else (None, 0)
            self.epoch = epoch + 1
            row = self._history_row(
                epoch, tau, totals, scaling, repicked, self.evaluate(val_loader), time.perf_counter() - started
            )
            self.history.append(row)
            self._log_epoch(row, warm, tau)
            if self.epoch % self.checkpoint_every == 0 or self.epoch == until:
                self.save_checkpoint()
        return self.history

    def _seed_epoch(self, epoch: int, weight_loader, arch_loader) -> torch.Generator:
        """Every random draw of ``epoch`` from its own seed (no rank: every process draws the same
        paths), so a resumed search replays it; returns the generator paths are drawn from."""
        seed = epoch_seed(self.config.seed, epoch)
        seed_everything(seed)
        for loader, offset in ((weight_loader, 1), (arch_loader, 2)):
            if getattr(loader, "generator", None) is not None:
                loader.generator.manual_seed(seed + offset)
        return torch.Generator().manual_seed(seed + 3)

    def _weight_paths(self, warm: bool, sampler: torch.Generator) -> list[list[int]]:
        """The single paths one weight step trains: a uniform one in the warm-up, then bi-sampling's
        two (or one Gumbel-max path from alpha without bi-sampling)."""
        if warm:
            return [uniform_path(self.host_alpha, sampler)]
        if self.config.bisampling:
            return list(bi_sample(self.host_alpha, sampler))
        return [gumbel_path(self.host_alpha, sampler)]

    def _train_epoch(
        self, epoch: int, weight_loader, arch_loader, sampler: torch.Generator, on_step, shown: bool
    ) -> dict[str, list[float]]:
        """One epoch of weight steps, with an architecture step every ``arch_every`` of them after
        the warm-up (and the latency term steered after each); returns the losses and latencies."""
        c = self.config
        steps_per_epoch = len(weight_loader)
        tau, warm = self.temperature(epoch), epoch < c.warmup_epochs
        arch_batches = _cycle(arch_loader)
        totals: dict[str, list[float]] = {
            key: [] for key in ("weight_loss", "alpha_path_loss", "other_path_loss", "arch_loss", "arch_ce",
                                "expected_ms")
        }  # fmt: skip
        bar = EpochProgress(epoch, c.epochs, steps_per_epoch, c.log_every, shown, "search epoch")
        for step, (x, y) in enumerate(weight_loader):
            if on_step is not None:
                on_step(epoch, step)
            x, y = self._on_device(x, y)
            paths = self._weight_paths(warm, sampler)
            lr = self.learning_rate(epoch * steps_per_epoch + step, c.epochs * steps_per_epoch)
            losses = self.weight_step(x, y, paths, lr)
            totals["weight_loss"].append(sum(losses) / len(losses))
            if not warm:  # the path drawn from alpha, and bi-sampling's path of other ops
                totals["alpha_path_loss"].append(losses[0])
                totals["other_path_loss"] += losses[1:]
            if not warm and step % c.arch_every == 0:
                xa, ya = self._on_device(*next(arch_batches))
                for key, value in self.arch_step(xa, ya, tau, sampler).items():
                    totals[key].append(value)
                if c.latency_feedback and c.elasticity:
                    # after every architecture step, the argmax may have changed: steer at once,
                    # with an epoch's worth of steps making up one full correction
                    self.steer(self.derived_band(), gain=1.0 / math.ceil(steps_per_epoch / c.arch_every))
            if bar.due(step):
                self._show_progress(bar, step, len(x), totals)
        bar.close()
        return totals

    def _log_epoch(self, row: dict, warm: bool, tau: float) -> None:
        logger.info(
            "search epoch %d/%d%s: weight loss %.3f, val top-1 %.3f, derived %.3f ms (target %s), "
            "alpha entropy %.2f, tau %.2f, %.0f s",
            self.epoch,
            self.config.epochs,
            " (warm-up)" if warm else "",
            row["weight_loss"],
            row["val_top1"],
            row["derived_ms"],
            "none: warm-up only" if self.penalty is None else f"{self.target_ms:.3f} ms",
            row["alpha_entropy"],
            tau,
            row["seconds"],
        )

    def _show_progress(self, bar: EpochProgress, step: int, batch: int, totals: dict[str, list[float]]) -> None:
        """The epoch's running means so far (the losses are already on the host: no extra wait)."""
        stats = {"weight_loss": sum(totals["weight_loss"]) / len(totals["weight_loss"])}
        if totals["arch_loss"]:
            stats |= {"arch_loss": sum(totals["arch_loss"]) / len(totals["arch_loss"])}
        bar.update(step, (step + 1) * batch * self.ranks.world_size, **stats)

    def _history_row(self, epoch, tau, totals, scaling, repicked, accuracy, seconds) -> dict:
        arch = self.derived()
        mean = {k: (float(np.mean(v)) if v else float("nan")) for k, v in totals.items()}
        alpha = [torch.softmax(a.detach(), 0) for a in self.alpha]
        beta = [torch.softmax(b.detach(), 0) for b in self.beta]
        return {
            "epoch": epoch,
            "tau": tau,
            **mean,
            **accuracy,
            "derived_ms": self.table.predict(arch),
            "target_ms": self.target_ms,
            "loss_target_ms": self.loss_target_ms,
            "scaled": scaling is not None,
            "scaling_feasible": None if scaling is None else scaling.feasible,
            # what the derived ops and depths reach between their narrowest and widest widths
            "band_low_ms": None if scaling is None else scaling.band_ms[0],
            "band_high_ms": None if scaling is None else scaling.band_ms[1],
            "channels_repicked": repicked,
            "alpha_entropy": _mean_entropy(alpha),
            "beta_entropy": _mean_entropy(beta),
            "alpha": [a.tolist() for a in alpha],
            "beta": [b.tolist() for b in beta],
            "widths": [b.mid for b in arch.blocks],
            "seconds": seconds,
        }

    # --- checkpoints ---------------------------------------------------------------------------
    def identity(self) -> dict:
        m = self.table.meta
        return {
            "space": self.space.model_dump(mode="json"),
            "table": {
                "device": m.device,
                "device_name": m.device_name,
                "created": m.created,
                "resolution": m.resolution,
            },
            "num_classes": self.num_classes,
        }

    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "config": self.settings(),
            "identity": self.identity(),
            "supernet": self.supernet.state_dict(),
            "loss_target_ms": self.loss_target_ms,
            "alpha": [a.detach().cpu().clone() for a in self.alpha],
            "beta": [b.detach().cpu().clone() for b in self.beta],
            "widths": self.supernet.widths(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "scalers": [self.weight_scaler.state_dict(), self.arch_scaler.state_dict()],
            "history": self.history,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].tolist()},
        }

    def result(self) -> dict:
        """What derivation, the report and a user need of a search (the ``search_result``
        artifact): alpha, beta, widths, settings, identity and history; the supernet and the
        optimisers stay in the resume checkpoint, whose path it names."""
        state = self.state_dict()
        kept = ("format", "epoch", "config", "identity", "loss_target_ms", "alpha", "beta", "widths", "history")
        path = self.checkpoint_path()
        return {**{k: state[k] for k in kept}, "checkpoint": None if path is None else str(path)}

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        check_format(state, CHECKPOINT_FORMAT, "search", source, SearchError)
        check_same_run(self.identity(), state["identity"], "search", source, SearchError)

        def plain(value):
            return list(value) if isinstance(value, tuple | list) else value

        # a state from within the warm-up depends neither on the latency term nor on the settings that
        # act after it: it may start any target's search
        target_free = state["epoch"] <= self.config.warmup_epochs
        mine = self.config.run_settings(warmup=target_free)
        if not target_free:
            mine |= {
                "target_ms": self.target_ms,
                "latency_lambda": None if self.penalty is None else self.penalty.weight,
            }
        for key, value in mine.items():
            saved = state["config"].get(key, SearchConfig.model_fields[key].default if key in ADDED_LATER else None)
            if plain(saved) != plain(value):
                raise SearchError(f"{source} was made with {key}={saved!r}, this search has {value!r}")
        self.supernet.load_state_dict(state["supernet"])
        with torch.no_grad():
            for mine, saved in zip(self.alpha + self.beta, state["alpha"] + state["beta"], strict=True):
                mine.copy_(saved)
        # copies: an optimiser keeps the tensors it is given, and a warm-up state may start several searches
        self.weight_optimizer.load_state_dict(copy.deepcopy(state["weight_optimizer"]))
        self.arch_optimizer.load_state_dict(copy.deepcopy(state["arch_optimizer"]))
        for scaler, saved in zip((self.weight_scaler, self.arch_scaler), state.get("scalers", ()), strict=False):
            if saved:  # an fp16 search's loss scales (empty when saved without fp16)
                scaler.load_state_dict(saved)
        self._refresh_host_copy()
        self.layer_ms = self._layer_ms()
        self.epoch = state["epoch"]
        self.loss_target_ms = self.target_ms if target_free else state["loss_target_ms"]
        self.history = [
            {**row, "target_ms": self.target_ms, "loss_target_ms": self.target_ms} if target_free else row
            for row in state["history"]
        ]

    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / "last.pt"

    def save_checkpoint(self) -> None:
        path = self.checkpoint_path()
        if path is None or not self.ranks.is_main:
            return
        save_atomic(self.state_dict(), path)

    def resume(self) -> bool:
        """Continue from the latest checkpoint if there is one; ``True`` when one was loaded. With
        several processes rank 0 reads it (the others need not see its disk) and sends it on."""
        path = self.checkpoint_path()
        state = None
        if path is not None and path.exists() and self.ranks.is_main:
            state = load_checkpoint(path, SearchError, map_location="cpu")
        state = broadcast_object(state)
        if state is None:
            return False
        self.load_state_dict(state, str(path))
        logger.info("resumed from %s at epoch %d", path, self.epoch)
        return True


def learning_status(history: list[dict], num_classes: int) -> dict:
    """Whether the supernet learned a space, from the last epoch of a search history: the weight
    loss at most ``0.75 * ln(classes)`` (chance is ``ln(classes)``), the derived ops' validation
    top-1 at least three times chance, and uniformly drawn paths at least twice chance: a supernet
    that has trained only the path alpha collapsed onto cannot rank other architectures. A short
    search on a small CPU budget usually ends before that. Histories written before random paths
    were scored are judged on the first two."""
    last = history[-1]
    chance_loss, chance_top1 = math.log(num_classes), 1.0 / num_classes
    loss_ratio = last["weight_loss"] / chance_loss
    top1_ratio = last["val_top1"] / chance_top1
    random_top1 = last.get("val_top1_random_paths")
    random_ratio = None if random_top1 is None or random_top1 != random_top1 else random_top1 / chance_top1
    return {
        "learned": bool(loss_ratio <= 0.75 and top1_ratio >= 3.0 and (random_ratio is None or random_ratio >= 2.0)),
        "weight_loss": last["weight_loss"],
        "chance_loss": chance_loss,
        "loss_vs_chance": loss_ratio,
        "val_top1": last["val_top1"],
        "chance_top1": chance_top1,
        "top1_vs_chance": top1_ratio,
        "random_paths_top1": random_top1,
        "random_paths_vs_chance": random_ratio,
        "epochs": len(history),
    }


def describe_learning(status: dict) -> str:
    """One plain sentence on where the supernet stands."""
    classes = round(1 / status["chance_top1"])
    where = (
        f"weight loss {status['weight_loss']:.2f} (chance: ln {classes} = {status['chance_loss']:.2f}), "
        f"derived-path val top-1 {status['val_top1']:.2f} ({status['top1_vs_chance']:.1f} x chance)"
    )
    if status.get("random_paths_vs_chance") is not None:
        where += f", random paths {status['random_paths_top1']:.2f} ({status['random_paths_vs_chance']:.1f} x chance)"
    where += f" after {status['epochs']} epochs"
    if status["learned"]:
        return f"the supernet learned: {where}"
    return (
        f"the supernet has not learned yet: {where}. Its op and depth choices then rest mostly on the latency "
        "term, not on accuracy, and its weights cannot rank other paths; search longer (more epochs, or the "
        "demo_learning env) for choices that reflect accuracy"
    )


def _mean_entropy(distributions: list[torch.Tensor]) -> float:
    """Mean entropy (nats) of the distributions, e.g. the op distribution of every layer."""
    return float(np.mean([float(-(p * torch.log(p.clamp_min(1e-12))).sum()) for p in distributions]))


def _cycle(loader):
    while True:
        yield from loader
