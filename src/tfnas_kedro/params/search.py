"""``params:target`` (and ``latency_targets.<name>``) and ``params:search``: the ``search`` pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tfnas_kedro.launch import DistributedConfig
from tfnas_kedro.nas.penalty import PAPER_LAMBDA, LatencyPenalty
from tfnas_kedro.nas.search import SearchConfig

from .base import Params


class TargetParams(Params):
    latency_ms: float | None = Field(None, gt=0, description="absolute target; overrides `fraction`")
    fraction: float | None = Field(0.5, ge=0.0, le=1.0, description="of the table's reachable range")

    @model_validator(mode="after")
    def _one(self) -> TargetParams:
        if self.latency_ms is None and self.fraction is None:
            raise ValueError("set latency_ms (ms) or fraction (of the reachable range)")
        return self


class SearchParams(SearchConfig):
    """``params:search``: the method's settings (:class:`SearchConfig`), the latency term's weight
    and how to run them. The target comes from ``params:target`` through :func:`resolve_target`,
    never from here."""

    latency_lambda: float = Field(PAPER_LAMBDA, ge=0)  # the latency term's weight (LatencyPenalty)
    search_space: str = "tfnas"
    device: str = "auto"
    input_size: int = Field(224, ge=16)
    batch_size: int = Field(32, ge=2)
    workers: int = Field(0, ge=0)  # DataLoader processes (files only)
    in_memory: bool = False  # decode the split once into memory and augment whole batches (small data sets)
    crop_min_scale: float = Field(0.08, gt=0, le=1)  # random-resized crop: smallest share of the image area
    channels_last: bool = True  # faster on the CPU too (measured: about 1.6x per weight step at 64 px)
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: bf16 autocast on CUDA (fp16 without bf16), CPU fp32
    checkpoint_dir: str = "data/06_models/search_checkpoints"
    resume: bool = True
    checkpoint_every: int = Field(1, ge=1)  # epochs between resume checkpoints (the last is always written)
    measure_latency: bool = True  # time the derived network on the table's device for the summary
    # data-parallel search (docs/distributed.md); batch_size stays global
    distributed: DistributedConfig = DistributedConfig()

    @model_validator(mode="before")
    @classmethod
    def _no_target(cls, data):
        if isinstance(data, dict) and "target_ms" in data:
            raise ValueError(
                "target_ms is not a search setting: set the target in params:target (latency_ms or fraction), "
                "or per search in latency_targets.<name>"
            )
        return data

    @model_validator(mode="after")
    def _batch_splits_evenly(self) -> SearchParams:
        if self.batch_size % self.distributed.world_size:
            raise ValueError(
                f"batch_size {self.batch_size} is not divisible by the {self.distributed.world_size} processes "
                "of distributed (nproc_per_node x nnodes); batch_size is global: choose a multiple"
            )
        return self

    def config(self) -> SearchConfig:
        return SearchConfig(**self.model_dump(include=set(SearchConfig.model_fields)))

    def penalty(self, target_ms: float | None) -> LatencyPenalty | None:
        """The latency term for ``target_ms``; none for a target-free warm-up."""
        return None if target_ms is None else LatencyPenalty(target_ms, self.latency_lambda)
