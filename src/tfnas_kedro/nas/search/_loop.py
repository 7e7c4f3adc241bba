"""The Searcher's epoch loop: seeding, the paths of each weight step, the epoch's steps, validation
and the history row."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch

from ..checkpoints import epoch_seed
from ..errors import SearchError
from ..parallel import all_sum
from ..progress import EpochProgress
from ..sampling import PathChoice, bi_sample, gumbel_path, uniform_path
from ..seeding import seed_everything
from ..subnet import Subnet
from .config import RANDOM_PATHS, RANDOM_PATHS_SEED
from .learning import _mean_entropy

logger = logging.getLogger(__name__)


class SearchLoop:
    """The epochs of :class:`~.searcher.Searcher` (a mixin: the state lives there)."""

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
            shown = progress and self.ranks.is_main
            totals = self._train_epoch(epoch, tau, warm, weight_loader, arch_loader, sampler, on_step, shown)
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
        self,
        epoch: int,
        tau: float,
        warm: bool,
        weight_loader,
        arch_loader,
        sampler: torch.Generator,
        on_step,
        shown: bool,
    ) -> dict[str, list[float]]:
        """One epoch of weight steps, with an architecture step every ``arch_every`` of them after
        the warm-up (and the latency term steered after each); returns the losses and latencies."""
        c = self.config
        steps_per_epoch = len(weight_loader)
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
        # a warm start's scores before its first step (Searcher.start_from), beside its first epoch's
        start = {f"start_{k}": v for k, v in self.start_accuracy.items()} if epoch == 0 and self.start_accuracy else {}
        return {
            "epoch": epoch,
            "tau": tau,
            **mean,
            **accuracy,
            **start,
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


def _cycle(loader):
    while True:
        yield from loader
