"""The method's settings of one search, and which of them identify it (its checkpoint folder and
its resume check)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ..penalty import LatencyPenalty

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
    # where the supernet's weights start (nas/warm_start.py): scratch (the paper's protocol), or a
    # pretrained MBConv network every candidate op inherits from: efficientnet_lite0,
    # efficientnet_b0, or the path of a checkpoint of either
    init: str = Field("scratch", min_length=1)
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
ADDED_LATER = frozenset({"distill_other_paths", "init"})


@dataclass(frozen=True)
class SearchIdentity:
    """What makes two searches the same search: the settings that identify it
    (:meth:`SearchConfig.run_settings`) and its latency target with its weight
    (:meth:`~..penalty.LatencyPenalty.settings`). Its checkpoint folder is named after it and a
    resume checks it, so the two cannot disagree. ``penalty`` None: the target-free warm-up."""

    config: SearchConfig
    penalty: LatencyPenalty | None = None

    def settings(self, within_warmup: bool = False) -> dict:
        """The identifying settings; ``within_warmup`` (a state from within the warm-up): only those
        the warm-up depends on, so one warm-up starts the searches of every target."""
        if within_warmup or self.penalty is None:
            return self.config.run_settings(warmup=True)
        return self.config.run_settings() | self.penalty.settings()

    def digest(self) -> str:
        """Eight hex digits of :meth:`settings`: a checkpoint folder's name part."""
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:8]

    def differences(self, saved: dict, within_warmup: bool) -> list[tuple[str, object, object]]:
        """``(key, saved value, this search's value)`` for every identifying setting where
        ``saved`` (a checkpoint's ``config``) differs; a setting added since a checkpoint was made
        reads as its default there (``ADDED_LATER``)."""

        def plain(value):
            return list(value) if isinstance(value, tuple | list) else value

        fields = SearchConfig.model_fields
        found = []
        for key, value in self.settings(within_warmup).items():
            default = fields[key].default if key in ADDED_LATER else None
            if plain(saved.get(key, default)) != plain(value):
                found.append((key, saved.get(key, default), value))
        return found
