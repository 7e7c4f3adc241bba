"""A search's epochs: seeding, the paths of each weight step, the epoch's steps, elasticity-scaling,
validation, the history row and the checkpoint."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from ..checkpoints import epoch_seed
from ..errors import SearchError
from ..progress import EpochProgress
from ..sampling import bi_sample, gumbel_path, uniform_path
from ..seeding import seed_everything
from .checkpointer import SearchCheckpointer
from .evaluation import evaluate_paths
from .learning import _mean_entropy
from .setup import SearchSetup
from .state import SearchState
from .stepper import SearchSteps

logger = logging.getLogger(__name__)

LOSSES = ("weight_loss", "alpha_path_loss", "other_path_loss", "arch_loss", "arch_ce", "expected_ms")


class SearchLoop:
    """Runs a search's epochs: :class:`~.stepper.SearchSteps` on its state, a history row after
    each epoch, a checkpoint every ``checkpoint_every``."""

    def __init__(self, setup: SearchSetup, state: SearchState, steps: SearchSteps, checkpointer: SearchCheckpointer):
        self.setup, self.state, self.steps, self.checkpointer = setup, state, steps, checkpointer

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
        c, s = self.setup.config, self.state
        until = c.epochs if until is None else min(until, c.epochs)
        if self.setup.penalty is None and until > c.warmup_epochs:
            raise SearchError(f"a search without a target can only run its {c.warmup_epochs} warm-up epochs")
        while s.epoch < until:
            epoch, started = s.epoch, time.perf_counter()
            sampler = self._seed_epoch(epoch, weight_loader, arch_loader)
            tau, warm = self.steps.temperature(epoch), epoch < c.warmup_epochs
            shown = progress and self.setup.ranks.is_main
            totals = self._train_epoch(epoch, tau, warm, (weight_loader, arch_loader), sampler, on_step, shown)
            scaling, repicked = self.steps.scale_widths() if (c.elasticity and not warm) else (None, 0)
            s.epoch = epoch + 1
            accuracy = evaluate_paths(self.setup, s, val_loader)
            row = self._history_row(epoch, tau, totals, scaling, repicked, accuracy, time.perf_counter() - started)
            s.history.append(row)
            self._log_epoch(row, warm, tau)
            if s.epoch % self.setup.checkpoint_every == 0 or s.epoch == until:
                self.checkpointer.save(s)
        return s.history

    def _seed_epoch(self, epoch: int, weight_loader, arch_loader) -> torch.Generator:
        """Every random draw of ``epoch`` from its own seed (no rank: every process draws the same
        paths), so a resumed search replays it; returns the generator paths are drawn from."""
        seed = epoch_seed(self.setup.config.seed, epoch)
        seed_everything(seed)
        for loader, offset in ((weight_loader, 1), (arch_loader, 2)):
            if getattr(loader, "generator", None) is not None:
                loader.generator.manual_seed(seed + offset)
        return torch.Generator().manual_seed(seed + 3)

    def _weight_paths(self, warm: bool, sampler: torch.Generator) -> list[list[int]]:
        """The single paths one weight step trains: a uniform one in the warm-up, then bi-sampling's
        two (or one Gumbel-max path from alpha without bi-sampling)."""
        host_alpha = self.state.host_alpha
        if warm:
            return [uniform_path(host_alpha, sampler)]
        if self.setup.config.bisampling:
            return list(bi_sample(host_alpha, sampler))
        return [gumbel_path(host_alpha, sampler)]

    def _train_epoch(self, epoch, tau, warm, loaders, sampler, on_step, shown) -> dict[str, list[float]]:
        """One epoch of weight steps, with an architecture step every ``arch_every`` of them after
        the warm-up (and the latency term steered after each); returns the losses and latencies."""
        c, setup, steps = self.setup.config, self.setup, self.steps
        weight_loader, arch_loader = loaders
        steps_per_epoch = len(weight_loader)
        arch_batches = _cycle(arch_loader)
        totals: dict[str, list[float]] = {key: [] for key in LOSSES}
        bar = EpochProgress(epoch, c.epochs, steps_per_epoch, c.log_every, shown, "search epoch")
        for step, (x, y) in enumerate(weight_loader):
            if on_step is not None:
                on_step(epoch, step)
            x, y = setup.on_device(x, y)
            paths = self._weight_paths(warm, sampler)
            lr = steps.learning_rate(epoch * steps_per_epoch + step, c.epochs * steps_per_epoch)
            losses = steps.weight_step(x, y, paths, lr)
            totals["weight_loss"].append(sum(losses) / len(losses))
            if not warm:  # the path drawn from alpha, and bi-sampling's path of other ops
                totals["alpha_path_loss"].append(losses[0])
                totals["other_path_loss"] += losses[1:]
            if not warm and step % c.arch_every == 0:
                xa, ya = setup.on_device(*next(arch_batches))
                for key, value in steps.arch_step(xa, ya, tau, sampler).items():
                    totals[key].append(value)
                if c.latency_feedback and c.elasticity:
                    # after every architecture step, the argmax may have changed: steer at once,
                    # with an epoch's worth of steps making up one full correction
                    steps.steer(steps.derived_band(), gain=1.0 / math.ceil(steps_per_epoch / c.arch_every))
            if bar.due(step):
                self._show_progress(bar, step, len(x), totals)
        bar.close()
        return totals

    def _log_epoch(self, row: dict, warm: bool, tau: float) -> None:
        target = self.setup.target_ms
        logger.info(
            "search epoch %d/%d%s: weight loss %.3f, val top-1 %.3f, derived %.3f ms (target %s), "
            "alpha entropy %.2f, tau %.2f, %.0f s",
            self.state.epoch, self.setup.config.epochs, " (warm-up)" if warm else "", row["weight_loss"],
            row["val_top1"], row["derived_ms"], "none: warm-up only" if target is None else f"{target:.3f} ms",
            row["alpha_entropy"], tau, row["seconds"],
        )  # fmt: skip

    def _show_progress(self, bar: EpochProgress, step: int, batch: int, totals: dict[str, list[float]]) -> None:
        """The epoch's running means so far (the losses are already on the host: no extra wait)."""
        stats = {"weight_loss": sum(totals["weight_loss"]) / len(totals["weight_loss"])}
        if totals["arch_loss"]:
            stats |= {"arch_loss": sum(totals["arch_loss"]) / len(totals["arch_loss"])}
        bar.update(step, (step + 1) * batch * self.setup.ranks.world_size, **stats)

    def _history_row(self, epoch, tau, totals, scaling, repicked, accuracy, seconds) -> dict:
        s = self.state
        arch = self.steps.derived()
        mean = {k: (float(np.mean(v)) if v else float("nan")) for k, v in totals.items()}
        alpha = [torch.softmax(a.detach(), 0) for a in s.alpha]
        beta = [torch.softmax(b.detach(), 0) for b in s.beta]
        # a warm start's scores before its first step (Searcher.start_from), beside its first epoch's
        start = {f"start_{k}": v for k, v in s.start_accuracy.items()} if epoch == 0 and s.start_accuracy else {}
        return {
            "epoch": epoch,
            "tau": tau,
            **mean,
            **accuracy,
            **start,
            "derived_ms": self.setup.table.predict(arch),
            "target_ms": self.setup.target_ms,
            "loss_target_ms": s.loss_target_ms,
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


def _cycle(loader):
    while True:
        yield from loader
