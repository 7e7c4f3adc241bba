"""The Searcher: one search put together from its parts. :class:`~.setup.SearchSetup` is what it
runs with, :class:`~.state.SearchState` what it changes (and what a checkpoint holds),
:class:`~.stepper.SearchSteps` its steps, :class:`~.loop.SearchLoop` its epochs and
:class:`~.checkpointer.SearchCheckpointer` its checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..latency import LatencyTable
from ..parallel import Ranks
from ..penalty import LatencyPenalty, check_reachable
from ..space import SearchSpace
from ..warm_start import PretrainedNet, warm_start
from .checkpointer import SearchCheckpointer
from .config import SearchConfig
from .evaluation import evaluate_paths
from .loop import SearchLoop
from .probe import probe_classifier
from .setup import SearchSetup
from .state import SearchState
from .stepper import SearchSteps

logger = logging.getLogger(__name__)


class Searcher:
    """One search: the supernet, ``alpha``/``beta``, both optimisers and the history.

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
        reachable = check_reachable(table, space, penalty.target_ms) if penalty else table.reachable_range(space)
        self.setup = SearchSetup(
            space=space.at_resolution(table.meta.resolution),
            table=table,
            num_classes=num_classes,
            config=config,
            device=device,
            penalty=penalty,
            ranks=Ranks.current(),
            reachable_ms=reachable,
            memory_format=torch.channels_last if channels_last else torch.contiguous_format,
            amp=amp,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
            checkpoint_every=checkpoint_every,
        )
        self.state = SearchState.create(self.setup)
        self.steps = SearchSteps(self.setup, self.state)
        self.checkpointer = SearchCheckpointer(self.setup)
        self.loop = SearchLoop(self.setup, self.state, self.steps, self.checkpointer)

    # --- what a user reads -----------------------------------------------------------------------
    space = property(lambda self: self.setup.space)
    table = property(lambda self: self.setup.table)
    config = property(lambda self: self.setup.config)
    penalty = property(lambda self: self.setup.penalty)
    device = property(lambda self: self.setup.device)
    ranks = property(lambda self: self.setup.ranks)
    num_classes = property(lambda self: self.setup.num_classes)
    reachable_ms = property(lambda self: self.setup.reachable_ms)
    target_ms = property(lambda self: self.setup.target_ms)
    supernet = property(lambda self: self.state.supernet)
    alpha = property(lambda self: self.state.alpha)
    beta = property(lambda self: self.state.beta)
    host_alpha = property(lambda self: self.state.host_alpha)
    history = property(lambda self: self.state.history)

    @property
    def epoch(self) -> int:
        return self.state.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.state.epoch = value

    @property
    def loss_target_ms(self) -> float | None:
        """The latency term's T: the target, or where :meth:`steer` moved it."""
        return self.state.loss_target_ms

    # --- what a user does ------------------------------------------------------------------------
    def run(self, weight_loader, arch_loader, val_loader, on_step=None, until=None, progress=True) -> list[dict]:
        """:meth:`SearchLoop.run <.loop.SearchLoop.run>`."""
        return self.loop.run(weight_loader, arch_loader, val_loader, on_step, until, progress)

    @torch.no_grad()
    def start_from(self, source: PretrainedNet, weight_loader, val_loader) -> dict:
        """Warm start (``config.init``): every weight but the classifier's from ``source``
        (:func:`~..warm_start.warm_start`), then the classifier fitted as a linear probe
        (:func:`~.probe.probe_classifier`), then the supernet scored as at the end of an epoch:
        the start the history's first row records."""
        report = warm_start(self.supernet, source)
        probe_classifier(self.setup, self.state, weight_loader)
        start = self.state.start_accuracy = self.evaluate(val_loader)
        logger.info(
            "warm start from %s (stage depths %s, %d identity layers): derived path val top-1 %.3f, random paths "
            "%.3f (chance %.3f)", report["source"], report["stage_depths"], report["identity_layers"],
            start["val_top1"], start["val_top1_random_paths"], 1 / self.num_classes,
        )  # fmt: skip
        return report | {"start": start}

    def evaluate(self, loader) -> dict[str, float]:
        return evaluate_paths(self.setup, self.state, loader)

    def weight_step(self, x: torch.Tensor, y: torch.Tensor, paths: list[list[int]], lr: float) -> list[float]:
        return self.steps.weight_step(x, y, paths, lr)

    def arch_step(self, x: torch.Tensor, y: torch.Tensor, tau: float, generator: torch.Generator) -> dict:
        return self.steps.arch_step(x, y, tau, generator)

    def strongest(self):
        return self.steps.strongest()

    def derived(self, name: str = "searched"):
        return self.steps.derived(name)

    def scale_widths(self):
        return self.steps.scale_widths()

    def steer(self, band_ms: tuple[float, float], gain: float = 1.0) -> None:
        self.steps.steer(band_ms, gain)

    # --- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return self.checkpointer.state_dict(self.state)

    def load_state_dict(self, saved: dict, source: str = "checkpoint") -> None:
        self.checkpointer.load_state_dict(self.state, saved, source)

    def result(self) -> dict:
        return self.checkpointer.result(self.state)

    def save_checkpoint(self) -> None:
        self.checkpointer.save(self.state)

    def resume(self) -> bool:
        return self.checkpointer.resume(self.state)
