"""Per-epoch progress: a live bar on a terminal, periodic log lines otherwise (CI, files)."""

from __future__ import annotations

import logging
import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

logger = logging.getLogger(__name__)


class EpochProgress:
    """``update(loss, correct, seen)`` after every step; shows loss, accuracy and images per second."""

    def __init__(self, epoch: int, epochs: int, steps: int, log_every: int, enabled: bool = True):
        self.title, self.steps, self.log_every, self.enabled = f"epoch {epoch + 1}/{epochs}", steps, log_every, enabled
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

    def update(self, step: int, loss: float, accuracy: float, images: int) -> None:
        """Show the state after step ``step`` (0-based): running loss and accuracy, images so far."""
        advance, self.step = step + 1 - self.step, step + 1
        rate = images / max(time.perf_counter() - self.started, 1e-9)
        stats = f"loss {loss:.3f}  acc {accuracy:.3f}  {rate:.0f} img/s"
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, stats=stats)
        else:
            logger.info("%s step %d/%d: %s", self.title, self.step, self.steps, stats)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
