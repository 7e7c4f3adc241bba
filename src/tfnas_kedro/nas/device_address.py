"""Where latency is timed when it is not this machine: ``ssh://[user@]host[:port]`` or
``adb://SERIAL`` (``latency.device``) and how to reach it (``latency.remote``). Plain data, no I/O:
the profiler's settings carry it; :mod:`.remote` does the timing."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class DeviceError(RuntimeError):
    """The remote device cannot be reached, cannot time, or answered something unexpected."""


@dataclass(frozen=True)
class RemoteDevice:
    """Where to time: ``ssh://[user@]host[:port]`` or ``adb://SERIAL``."""

    scheme: str
    target: str
    port: int | None = None

    @classmethod
    def parse(cls, address: str) -> RemoteDevice | None:
        """The remote device an address names, or None for a local one (cpu, cuda, auto)."""
        scheme, sep, rest = address.partition("://")
        if not sep:
            return None
        if scheme not in ("ssh", "adb") or not rest or "/" in rest:
            raise DeviceError(f"latency.device {address!r}: use ssh://[user@]host[:port] or adb://SERIAL")
        port = None
        if scheme == "ssh" and ":" in rest.rsplit("@", 1)[-1]:
            rest, _, text = rest.rpartition(":")
            if not text.isdigit():
                raise DeviceError(f"latency.device {address!r}: the port must be a number")
            port = int(text)
        return cls(scheme, rest, port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.target}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class RemoteOptions:
    """How to reach and use the device (``latency.remote``)."""

    python: str = "python3"  # the interpreter on the device
    workdir: str = "tfnas-timer"  # the timer's folder (relative: in the login folder; over adb in /data/local/tmp)
    connect_timeout_s: int = 10
    batch_timeout_s: int = 600  # one batch of modules, timed on the device
    batch_size: int = 64  # modules per connection
    ssh_options: tuple[str, ...] = ()  # extra ssh arguments (-i KEY, -o ...); ~/.ssh/config applies as always
    cache_dir: str | None = None  # host folder of timings already taken (None: no resume)
    runner: str | None = None  # adb + executorch: ExecuTorch's executor_runner built for the phone (host path)


def check_runtime(device: RemoteDevice, runtime: str) -> None:
    """Stop, naming what to set, where a device cannot time ``runtime``: a remote device times ONNX
    graphs (in the Python timer) or ExecuTorch programs (in the Python timer over ssh, in
    ExecuTorch's native runner over adb), not eager PyTorch."""
    if runtime in ("onnxruntime", "executorch"):
        return
    raise DeviceError(
        f"latency.device {device}: a remote device times ONNX graphs (runtime onnxruntime) or ExecuTorch "
        f"programs (runtime executorch); not runtime {runtime}"
    )


class DeviceInfo(BaseModel):
    """The device's identity as its timer reports it."""

    model_config = ConfigDict(extra="ignore")
    python: str
    uname: str
    machine: str
    cpu_model: str
    cores: int | None = None
    numpy: str | None = None
    onnxruntime: str | None = None
    torch: str | None = None
    executorch: str | None = None
    missing: list[str] = []


class RemoteDeviceRecord(DeviceInfo):
    """A remote device as a table's metadata records it: its address and its identity."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    address: str
