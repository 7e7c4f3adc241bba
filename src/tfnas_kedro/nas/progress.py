"""Progress within an epoch (training and search): a live bar on a terminal, periodic log lines
otherwise (CI, files), so an epoch of thousands of steps is never silent."""

from __future__ import annotations

import logging
import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

logger = logging.getLogger(__name__)


class EpochProgress:
    """``update(step, images, **stats)`` on the steps ``due`` names; shows the stats and images per second."""

    def __init__(self, epoch: int, epochs: int, steps: int, log_every: int, enabled: bool = True, what: str = "epoch"):
        self.title = f"{what} {epoch + 1}/{epochs}"
        self.steps, self.log_every, self.enabled = steps, log_every, enabled
        self.started = time.perf_counter()
        self.step = 0
        self._bar = None
        if enabled and sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
            )
            self._task = self._bar.add_task(self.title, total=steps, stats="")
            self._bar.start()

    def due(self, step: int) -> bool:
        """Whether step ``step`` (0-based) is shown: reading the loss synchronises a GPU, so not every step."""
        every = min(self.log_every, 10) if self._bar is not None else self.log_every
        return self.enabled and ((step + 1) % every == 0 or step + 1 == self.steps)

    def update(self, step: int, images: int, **stats: float) -> None:
        """Show the state after step ``step`` (0-based): running ``stats`` (``loss=2.1``), images so far."""
        advance, self.step = step + 1 - self.step, step + 1
        rate = images / max(time.perf_counter() - self.started, 1e-9)
        shown = [f"{name.replace('_', ' ')} {value:.3f}" for name, value in stats.items()]
        stats = "  ".join([*shown, f"{rate:.0f} img/s"])
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, stats=stats)
        else:
            logger.info("%s step %d/%d: %s", self.title, self.step, self.steps, stats)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
