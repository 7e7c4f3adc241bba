"""What one node hands another, typed: each is saved by the catalog as readable JSON
(:class:`~tfnas_kedro.datasets.ModelJSONDataset`) and read back as itself, so a consumer reads
fields a type checker and a reader can follow, not keys of a dict."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Artifact(BaseModel):
    """A node's output: validated when made and when read back; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchTarget(Artifact):
    """The latency target of one search, resolved on its table before any training
    (``resolve_search_target``): in ms, with what was asked and what the space can reach there."""

    target_ms: float = Field(gt=0)
    requested_ms: float | None = None  # ``target.latency_ms`` when given
    fraction: float | None = None  # ``target.fraction`` of the reachable range, when that was given instead
    reachable_ms: tuple[float, float]  # the space's fastest and slowest networks on the table
    space: str
    device: str  # the table's device, runtime and the device's name: where the target holds
    device_name: str
    runtime: str
