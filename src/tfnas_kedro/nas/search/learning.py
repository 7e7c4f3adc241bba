"""Whether a search's supernet has learned, read from its history: the verdict the log, the summary
and the report give."""

from __future__ import annotations

import math

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict


class LearningStatus(BaseModel):
    """Whether a search's supernet learned a space (:func:`learning_status`), with the figures
    the verdict rests on against chance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learned: bool
    weight_loss: float
    chance_loss: float
    loss_vs_chance: float
    val_top1: float
    chance_top1: float
    top1_vs_chance: float
    random_paths_top1: float | None = None
    random_paths_vs_chance: float | None = None
    epochs: int

    @property
    def classes(self) -> int:
        return round(1 / self.chance_top1)


def learning_status(history: list[dict], num_classes: int) -> LearningStatus:
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
    random_top1 = None if random_top1 is None or random_top1 != random_top1 else float(random_top1)
    random_ratio = None if random_top1 is None else random_top1 / chance_top1
    return LearningStatus(
        learned=bool(loss_ratio <= 0.75 and top1_ratio >= 3.0 and (random_ratio is None or random_ratio >= 2.0)),
        weight_loss=last["weight_loss"],
        chance_loss=chance_loss,
        loss_vs_chance=loss_ratio,
        val_top1=last["val_top1"],
        chance_top1=chance_top1,
        top1_vs_chance=top1_ratio,
        random_paths_top1=random_top1,
        random_paths_vs_chance=random_ratio,
        epochs=len(history),
    )


def describe_learning(status: LearningStatus) -> str:
    """One plain sentence on where the supernet stands."""
    where = (
        f"weight loss {status.weight_loss:.2f} (chance: ln {status.classes} = {status.chance_loss:.2f}), "
        f"derived-path val top-1 {status.val_top1:.2f} ({status.top1_vs_chance:.1f} x chance)"
    )
    if status.random_paths_vs_chance is not None:
        where += f", random paths {status.random_paths_top1:.2f} ({status.random_paths_vs_chance:.1f} x chance)"
    where += f" after {status.epochs} epochs"
    if status.learned:
        return f"the supernet learned: {where}"
    return (
        f"the supernet has not learned yet: {where}. Its op and depth choices then rest mostly on the latency "
        "term, not on accuracy, and its weights cannot rank other paths; search longer (more epochs, or the "
        "demo_learning env) for choices that reflect accuracy"
    )


def _mean_entropy(distributions: list[torch.Tensor]) -> float:
    """Mean entropy (nats) of the distributions, e.g. the op distribution of every layer."""
    return float(np.mean([float(-(p * torch.log(p.clamp_min(1e-12))).sum()) for p in distributions]))
