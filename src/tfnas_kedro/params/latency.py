"""``params:latency`` (and its ``remote``): the lookup table's device, harness and calibration,
read by the latency pipeline and by every node that times a network against the table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tfnas_kedro.nas import ArchDescription, SearchSpace, zoo_names
from tfnas_kedro.nas.device_address import DeviceError, RemoteDevice, RemoteOptions, check_runtime
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.random_networks import fidelity_networks
from tfnas_kedro.nas.runtimes import CHANNEL_BLOCK, default_channel_block, default_width_step
from tfnas_kedro.project import resolve
from tfnas_kedro.runtime import resolve_device

from .base import Params

logger = logging.getLogger(__name__)


# --- parameter groups that more than one pipeline reads --------------------------------------------
class RemoteParams(Params):
    """``params:latency.remote``: how to reach a device named ``ssh://...`` or ``adb://...``
    (docs/device-tables.md); unused for a local device."""

    python: str = "python3"  # the interpreter on the device (Python >= 3.9 with numpy and onnxruntime)
    workdir: str = "tfnas-timer"  # folder on the device for the timer (relative: login folder; adb: /data/local/tmp)
    connect_timeout_s: int = Field(10, ge=1)
    batch_timeout_s: int = Field(600, ge=1)  # one batch of modules timed on the device
    batch_size: int = Field(64, ge=1)  # modules sent per connection
    ssh_options: list[str] = []  # extra ssh arguments, e.g. ["-i", "~/.ssh/pi_ed25519"]; ~/.ssh/config applies
    cache_dir: str | None = "data/04_feature/remote_timings"  # timings kept on the host: a broken build resumes
    runner: str | None = None  # adb + runtime executorch: executor_runner built for the phone's ABI (path here)

    def options(self) -> RemoteOptions:
        """The library's options; a relative ``cache_dir`` is taken from the project's folder."""
        cache = None if self.cache_dir is None else resolve(self.cache_dir)
        runner = None if self.runner is None else str(resolve(self.runner))
        return RemoteOptions(
            **{**self.model_dump(), "ssh_options": tuple(self.ssh_options), "cache_dir": cache, "runner": runner}
        )


class LatencyParams(Params):
    """``params:latency``: the lookup table's device, harness and calibration; read by the latency
    pipeline, and by search, train and report to time networks the way the table was checked."""

    spaces: list[str] = Field(["tfnas"], min_length=1, description="spaces the table covers (same stem/head)")
    device: str = "cpu"  # cpu | cuda | cuda:N | auto | ssh://[user@]host[:port] | adb://SERIAL
    remote: RemoteParams = RemoteParams()
    batch_size: int | None = Field(None, ge=1, description="default: 1 on CPU, 32 on CUDA (the paper)")
    threads: int = Field(1, ge=1)
    # what blocks and networks are timed in (nas/runtimes.py); executorch: lowered to XNNPACK, CPU
    runtime: Literal["torch", "onnxruntime", "executorch"] = "torch"
    program_cache: str | None = "data/04_feature/executorch_programs"  # executorch: lowered programs kept here
    resolution: int = Field(224, ge=32)
    num_classes: int = Field(1000, ge=1)
    # expanded widths measured this many channels apart, priced between; unset (null): the
    # runtime's (runtimes.WIDTH_STEP: 32, or 64 in executorch, where each width is a program to lower)
    width_step: int = Field(32, ge=1)
    # widths on multiples of this run on the runtime's fast paths and are measured and priced apart;
    # unset (null): the runtime's (runtimes.CHANNEL_BLOCK: 16 eager, 4 onnxruntime, as measured on
    # this AVX-512 CPU; benchmarks/channel_alignment.py finds it for another machine); 0: one grid
    channel_block: int = Field(0, ge=0)
    warmup: int = Field(3, ge=0)
    repeats: int = Field(5, ge=1)
    rounds: int = Field(3, ge=1)
    quantile: float = Field(0.25, gt=0.0, lt=1.0)
    max_spread: float = Field(0.25, gt=0.0)
    remeasure: int = Field(2, ge=0)
    # widths more than this share off the line through their neighbours are timed again (None: never)
    curve_tolerance: float | None = Field(0.2, gt=0.0)
    network_rounds: int = Field(30, ge=1, description="interleaved rounds when timing whole networks")
    network_repeats: int = Field(1, ge=1)
    fresh_process: bool = True  # whole networks timed in a fresh worker process, as deployed
    calibration_networks: int = Field(48, ge=2)
    fidelity_models: list[str] | str = "all"
    noise_repeats: int = Field(3, ge=2)
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _runtime_defaults(cls, raw: Any) -> Any:
        """An unset ``channel_block`` or ``width_step`` is the runtime's: a user who sets only
        ``runtime: onnxruntime`` gets the block its kernels want (without it: median |error| 11.6%
        at 224), and one who sets ``runtime: executorch`` a grid that lowers half the programs."""
        if isinstance(raw, Mapping):
            runtime = raw.get("runtime", "torch")
            if runtime in CHANNEL_BLOCK:  # an unknown runtime is named by the field's own check
                defaults = {"channel_block": default_channel_block(runtime), "width_step": default_width_step(runtime)}
                raw = {**raw, **{key: value for key, value in defaults.items() if raw.get(key) is None}}
        return raw

    @field_validator("device")
    @classmethod
    def _device_address(cls, device: str) -> str:
        try:
            RemoteDevice.parse(device)
        except DeviceError as err:
            raise ValueError(str(err)) from err
        return device

    @model_validator(mode="after")
    def _remote_runtime(self) -> LatencyParams:
        remote = RemoteDevice.parse(self.device)
        if remote is not None:
            try:
                check_runtime(remote, self.runtime)
            except DeviceError as err:
                raise ValueError(f"{err}: set latency.runtime") from err
        return self

    def timing_device(self) -> str:
        """Where the table is timed: a remote device's address, or this machine's resolved device."""
        if RemoteDevice.parse(self.device) is not None:
            return self.device
        return str(resolve_device(self.device))

    def profiler_settings(self) -> ProfilerSettings:
        device = self.timing_device()
        remote = self.remote.options() if RemoteDevice.parse(device) is not None else None
        batch = self.batch_size or (32 if device.startswith("cuda") else 1)
        return ProfilerSettings(
            device=device, batch_size=batch, threads=self.threads, warmup=self.warmup, repeats=self.repeats,
            rounds=self.rounds, quantile=self.quantile, max_spread=self.max_spread, remeasure=self.remeasure,
            runtime=self.runtime, fresh_process=self.fresh_process, remote=remote,
            program_cache=None if self.program_cache is None else str(resolve(self.program_cache)),
        )  # fmt: skip

    def fidelity_archs(self, table: LatencyTable, spaces: Sequence[SearchSpace] = ()) -> list[ArchDescription]:
        """The networks the table is checked on (:func:`~tfnas_kedro.nas.random_networks.fidelity_networks`)."""
        names = zoo_names() if self.fidelity_models == "all" else list(self.fidelity_models)
        try:
            return fidelity_networks(table, names, spaces, self.seed)
        except ValueError as error:
            raise ValueError(f"params:latency.fidelity_models: {error}") from error

    def anchor_archs(self, table: LatencyTable) -> list[ArchDescription]:
        """The networks a search or training times beside its own to divide out the session's
        drift: those the table was checked on, as stored with it."""
        held_out = table.meta.calibration.held_out
        return list(held_out.archs) if held_out is not None and held_out.archs else self.fidelity_archs(table)

    def network_settings(self) -> ProfilerSettings:
        """Whole networks: the same statistic, spread over more rounds (they are few and slow)."""
        return self.profiler_settings().for_networks(self.network_rounds, self.network_repeats)

    def settings_for(
        self, table: LatencyTable, *, resolution: int | None = None, space: str | None = None
    ) -> ProfilerSettings:
        """How whole networks are timed to be compared with ``table``: where and as the table was
        timed, or a stop naming both (:meth:`~tfnas_kedro.nas.latency.LatencyTable.check_timing`).
        Every node that times a network against a table (search, train, report) asks this."""
        settings = self.network_settings()
        installed = None
        if table.meta.runtime.name == "executorch" and settings.runtime == "executorch":
            from tfnas_kedro.nas.executorch_programs import executorch_version

            installed = executorch_version()  # its programs are lowered anew by each release
        table.check_timing(settings, installed, resolution=resolution, space=space)
        return settings
