"""What a latency table says about itself: the device and runtime it was timed on, and its
calibration. Typed, so that a table whose metadata has a misspelt or missing key is refused with
the key named instead of read with a default (a misspelt scale would silently price at 1.0)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from .arch import ArchDescription, HeadSpec, StemSpec
from .device_address import RemoteDeviceRecord
from .errors import ConfigError, validate_model
from .profiler import ProfilerSettings

_STRICT = ConfigDict(extra="forbid", frozen=True)


class RuntimeInfo(BaseModel):
    """The runtime the entries were timed in (:func:`~.runtimes.runtime_info`); tables from
    before the option were timed in eager torch."""

    model_config = _STRICT

    name: Literal["torch", "onnxruntime", "executorch"] = "torch"
    version: str | None = None
    backend: str | None = None  # executorch: the backend its programs are delegated to
    mode: str | None = None  # torch: eager
    threads: int | None = None
    provider: str | None = None  # onnxruntime: the execution provider, its options and opset
    options: dict[str, int | str] | None = None
    opset: int | None = None


class HeldOutCheck(BaseModel):
    """The table's check on networks held out of its calibration, in one session: the published
    models that lie in its spaces, or random networks of its spaces where none does."""

    model_config = _STRICT

    models: int = Field(ge=1)
    median_abs_error: float = Field(ge=0)
    max_abs_error: float = Field(ge=0)
    noise_floor: float = Field(ge=0)  # the spread of repeated timings of one whole network
    # the networks checked: a search or training re-times these as its session's anchors (empty
    # in tables from before they were stored: the anchors are then `latency.fidelity_models`)
    archs: list[ArchDescription] = []


class Calibration(BaseModel):
    """The fit of whole networks' latency on their blocks' (:func:`~.calibration.calibrate`);
    an uncalibrated table has the defaults (every scale 1, no networks)."""

    model_config = _STRICT

    base_scale: float = 1.0  # of the parts every network shares
    scales: dict[str, float] = Field(default_factory=dict)  # per scale key (LatencyTable.scale_key)
    ms_per_mparam: float = Field(0.0, ge=0)  # fetching a network's weights, per million
    scale: float = 1.0  # for scale keys the networks did not contain
    by_se: bool = False  # SE blocks have scales of their own
    ridge: float | None = None
    networks: int = Field(0, ge=0)
    outliers: int = Field(0, ge=0)
    median_abs_residual: float | None = None
    max_abs_residual: float | None = None
    max_abs_residual_fitted: float = 0.0  # of the networks the fit kept
    held_out: HeldOutCheck | None = None


class LatencyMeta(BaseModel):
    """A table's metadata: where and how it was measured, and its calibration."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    device: str  # cpu | cuda | cuda:N
    device_name: str  # the CPU model or GPU
    batch_size: int = Field(ge=1)
    threads: int = Field(ge=0)  # CPU threads (0 on a GPU)
    resolution: int = Field(ge=1)
    num_classes: int = Field(ge=1)
    spaces: list[str]
    stem: StemSpec
    head: HeadSpec
    width_step: int = Field(ge=1)
    profiler: ProfilerSettings  # the harness's settings
    torch_version: str = torch.__version__
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    base_ms: float = 0.0
    reference_ms: float = 0.0  # the profiler's reference workload latency all entries are expressed with
    build_seconds: float = 0.0
    calibration: Calibration = Calibration()
    runtime: RuntimeInfo = RuntimeInfo()
    # widths that are multiples of this run on the libraries' blocked layouts (oneDNN, onnxruntime's
    # NCHWc): measured and interpolated apart from the others; 0: one grid (tables before the option)
    channel_block: int = Field(0, ge=0)
    # widths whose first timing lay off their block's curve and were replaced by a second timing
    curve_retimed: int = Field(0, ge=0)
    # a device timed over ssh:// or adb:// as its timer reported it (uname, CPU model, cores, Python,
    # NumPy, onnxruntime); None: timed on the machine that built the table
    remote_device: RemoteDeviceRecord | None = None

    def with_changes(self, **changes) -> LatencyMeta:
        """A copy with ``changes`` (validated as on loading)."""
        return type(self).model_validate({**self.model_dump(), **changes})


def meta_to_dict(meta: LatencyMeta) -> dict:
    return meta.model_dump(mode="json")


def meta_from_dict(data: dict) -> LatencyMeta:
    """The metadata a table file holds, validated: a misspelt, missing or invalid key stops with
    the key named and the remedy (tables from before an optional key read it at its default)."""
    try:
        return validate_model(LatencyMeta, data, prefix="latency table metadata")
    except ConfigError as err:
        raise ConfigError(f"{err}\nrebuild the table with `kedro run --pipelines latency`") from None


class NoiseFloor(BaseModel):
    """One network timed again and again in the fidelity session: how far the machine repeats itself."""

    model_config = _STRICT

    network: str
    ms: list[float]
    spread: float  # of the repeats, relative to their median


class FidelitySummary(BaseModel):
    """What a checked table says of its own trust (``latency_fidelity_summary``): where it was
    timed, its errors on the held-out networks, the noise floor and its calibration."""

    model_config = _STRICT

    device: str
    device_name: str
    batch_size: int
    threads: int
    resolution: int
    runtime: str
    models: int
    median_abs_error: float
    max_abs_error: float
    uncalibrated_median_error: float
    noise_floor: NoiseFloor
    calibration: Calibration
    table_build_seconds: float = 0.0


class SessionFidelity(BaseModel):
    """The table's fidelity models timed beside a network (``check_in_session``): their errors,
    the session's drift (their median measured/predicted ratio) and the network's error once that
    drift is divided out."""

    model_config = _STRICT

    models: int
    median_abs_error: float
    max_abs_error: float
    session_drift: float
    relative_error: float


class Timed(BaseModel):
    """Where and how a network was timed, when it was (``check_in_session``: beside the table's
    fidelity models, on the table's device and runtime): what it measured there, its error against
    the table with the session's drift divided out, and whether that lies within the table's bound.
    The base of the node outputs that carry it (``artifacts.SearchSummary``, ``TrainingMetrics``)."""

    model_config = _STRICT

    measured_ms: float | None = None
    raw_measured_ms: float | None = None
    measured_error: float | None = None
    session_fidelity: SessionFidelity | None = None
    timed_in: str | None = None
    timed_on: str | None = None  # this machine's cpu or cuda, or the remote device's address
    fidelity_bound: float | None = None
    session_bound: float | None = None
    within_fidelity_bound: bool | None = None
