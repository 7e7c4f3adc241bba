"""Timing on the device a network ships to, over SSH or adb (docs/device-tables.md).

``latency.device: ssh://user@host[:port]`` or ``adb://SERIAL``. The host exports every module it
would time to ONNX (or lowers it to an ExecuTorch program, with ``runtime: executorch`` over SSH),
copies a batch of them with the one-file timer (:mod:`.device_timer`) to the device in one
connection, runs the timer there and reads its JSON answer, checked against a schema. The device
needs Python >= 3.9, NumPy and onnxruntime (or torch and the host's ExecuTorch release); no pickle
and no other code of this project goes there.

Each timing is cached on the host as soon as its batch returns, keyed by the module, the device
and the harness settings: after a dropped connection or a reboot, the next build times only what
is missing, with the reference latency of the first session, so its entries share one unit.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shlex
import subprocess
import tarfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from . import device_timer
from .device_address import DeviceError, DeviceInfo, RemoteDevice, RemoteDeviceRecord, RemoteOptions, check_runtime
from .profiler import ProfilerSettings, Timing, reference_workload
from .runtimes import onnx_bytes

logger = logging.getLogger(__name__)
TIMER_FILE = Path(device_timer.__file__)


class _Timing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    ms: float = Field(gt=0)
    median_ms: float = Field(gt=0)
    spread: float = Field(ge=0)
    samples: int = Field(ge=1)
    raw_ms: float = Field(gt=0)


class _Answer(BaseModel):
    """What the device timer may answer (anything else is refused, never executed)."""

    model_config = ConfigDict(extra="forbid")
    schema_: str = Field(alias="schema", pattern=f"^{device_timer.SCHEMA}$")
    reference_ms: float = Field(gt=0)
    timings: list[_Timing]


class SshTransport:
    """Commands on the device through the system's OpenSSH client: keys, the agent, ProxyJump and
    ``~/.ssh/config`` work as for any ssh; BatchMode: never a password prompt."""

    def __init__(self, device: RemoteDevice, options: RemoteOptions):
        self.device, self.options = device, options
        port = ["-p", str(device.port)] if device.port else []
        self.base = [
            "ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={options.connect_timeout_s}",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", *port, *options.ssh_options,
            device.target,
        ]  # fmt: skip

    def folder(self, path: str) -> str:
        """``path`` for the device's shell; a relative one is in the login folder."""
        return shell_path(path)

    def run(self, command: str, stdin: bytes | None = None, timeout: float | None = None) -> bytes:
        try:
            done = subprocess.run([*self.base, command], input=stdin or b"", capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise DeviceError(f"{self.device}: no answer within {timeout:.0f} s to {command!r}") from err
        if done.returncode == 255:  # ssh's own failure: connection, host key or authentication
            reason = done.stderr.decode(errors="replace").strip().splitlines()
            raise DeviceError(f"cannot reach {self.device} over ssh: {reason[-1] if reason else 'ssh failed'}")
        if done.returncode != 0:
            raise DeviceError(f"{self.device}: {command!r} failed: {done.stderr.decode(errors='replace')[-800:]}")
        return done.stdout

    def push(self, files: dict[str, bytes], folder: str, timeout: float) -> None:
        """Copy ``files`` into ``folder`` on the device in one connection (a tar stream)."""
        self.run(f"mkdir -p {self.folder(folder)} && tar -x -C {self.folder(folder)}", _tar(files), timeout)


class AdbTransport:
    """Commands on an Android device through ``adb -s SERIAL``: ``exec-in`` for a command that
    reads the host's data (the tar stream), ``shell`` for one that answers. ``exec-in`` passes
    neither the command's exit status nor its stderr, and adb before Android 7 passes no exit
    status at all; so every command ends by printing its status after a marker, stderr joins
    stdout where it carries no answer, and a missing marker means adb itself failed."""

    MARK = "__tfnas_exit_status="
    HOME = "/data/local/tmp"  # the folder adb's shell user can write to

    def __init__(self, device: RemoteDevice, options: RemoteOptions):
        self.device, self.options = device, options
        self.base = ["adb", "-s", device.target]

    def folder(self, path: str) -> str:
        """``path`` for the device's shell; a relative one is in /data/local/tmp."""
        return shell_path(path if path.startswith(("/", "~")) else f"{self.HOME}/{path}")

    def run(self, command: str, stdin: bytes | None = None, timeout: float | None = None) -> bytes:
        service, merge = ("exec-in", " 2>&1") if stdin is not None else ("shell", "")
        marked = f"{{ {command} ; }}{merge}; printf '\\n{self.MARK}%s\\n' $?"
        args = [*self.base, service, f"sh -c {shlex.quote(marked)}"]
        try:
            done = subprocess.run(args, input=stdin or b"", capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise DeviceError(f"{self.device}: no answer within {timeout:.0f} s to {command!r}") from err
        except FileNotFoundError as err:
            raise DeviceError("adb is not installed on this host (Android platform-tools)") from err
        out, marker, status = done.stdout.rpartition(b"\n" + self.MARK.encode())
        if not marker:  # adb's own failure: no such device, unauthorised, offline
            reason = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            raise DeviceError(f"cannot reach {self.device} over adb: {reason[-1] if reason else 'adb failed'}")
        if status.strip() != b"0":
            said = (done.stderr if stdin is None else out).decode(errors="replace")[-800:]
            raise DeviceError(f"{self.device}: {command!r} failed (exit status {status.strip().decode()}): {said}")
        return out

    def push(self, files: dict[str, bytes], folder: str, timeout: float) -> None:
        self.run(f"mkdir -p {self.folder(folder)} && tar -x -C {self.folder(folder)}", _tar(files), timeout)


def shell_path(path: str) -> str:
    """``path`` quoted for the device's shell; a leading ``~/`` stays the login folder."""
    if path == "~" or path.startswith("~/"):
        return '"$HOME"' + ("/" + shlex.quote(path[2:]) if path[2:] else "")
    return shlex.quote(path)


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def transport(device: RemoteDevice, options: RemoteOptions) -> SshTransport | AdbTransport:
    return SshTransport(device, options) if device.scheme == "ssh" else AdbTransport(device, options)


@dataclass
class _Cache:
    """Timings already taken on one device with one harness: a JSON-lines file on the host."""

    path: Path | None
    reference_ms: float | None = None
    timings: dict[str, Timing] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: str | None, identity: dict) -> _Cache:
        if folder is None:
            return cls(None)
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        cache = cls(Path(folder) / f"{digest}.jsonl")
        if cache.path.exists():
            for line in cache.path.read_text().splitlines():
                row = json.loads(line)
                if "reference_ms" in row:
                    cache.reference_ms = row["reference_ms"]
                elif "key" in row:  # the first line names what the file holds
                    key = row.pop("key")
                    cache.timings[key] = Timing(**row)
        else:
            cache.path.parent.mkdir(parents=True, exist_ok=True)
            cache.path.write_text(json.dumps({"identity": identity}) + "\n")
        return cache

    def add(self, rows: dict) -> None:
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(json.dumps(rows) + "\n")


def module_key(module: nn.Module, shape: Sequence[int], batch: int) -> str:
    """What a timing depends on: the module's structure (its repr lists every layer and shape) and
    its input; weights do not change a latency, so a rebuilt block finds its cached timing."""
    return hashlib.sha256(f"{module!r}|{tuple(shape)}|{batch}".encode()).hexdigest()[:24]


INSTALL = {
    "onnxruntime": "pip install numpy onnxruntime, or pkg install python-onnxruntime",
    "executorch": "pip install numpy torch, then executorch at this host's release",
}


class RemoteProfiler:
    """:class:`~.profiler.Profiler`'s interface, timing on a remote device in onnxruntime."""

    def __init__(self, settings: ProfilerSettings, reference_ms: float | None = None):
        self.settings, self.remote = settings, RemoteDevice.parse(settings.device)
        self._batches_sent = 0  # batches are numbered over the whole build, as errors name them
        check_runtime(self.remote, settings.runtime)
        self.options = settings.remote or RemoteOptions()
        self.transport = transport(self.remote, self.options)
        self.info = self._probe()
        self.device_name = self.info.cpu_model
        self.device = torch.device("cpu")  # the runtime's CPU backend, on the device: threads apply
        reference, shape = reference_workload()
        self._reference_shape = [settings.batch_size, *shape]
        self._reference = self._file_bytes([reference], [shape])[0]
        # a timing's unit is the reference latency: given (a table's), or the first session's
        self.cache = _Cache.open(self.options.cache_dir, self.identity(reference_ms))
        self.reference_ms = reference_ms or self.cache.reference_ms or self.measure_reference()
        if self.cache.reference_ms is None:
            self.cache.reference_ms = self.reference_ms
            self.cache.add({"reference_ms": self.reference_ms})

    @property
    def group_size(self) -> int:
        """A table's entries go to the device a batch per connection (``remote.batch_size``)."""
        return self.options.batch_size

    def measure_reference(self, processes: int = 3) -> float:
        """The reference's latency on the device (a table's unit): the median of its readings in
        ``processes`` separate timer processes. One fresh process over ssh read it 15-18% high in 2
        of 12 builds on a quiet machine here (the others within 0.5%); a median of three sets such a
        reading aside."""
        return float(np.median([self._time([], [], None)[0] for _ in range(processes)]))

    def remote_device(self) -> RemoteDeviceRecord:
        """The device's identity for the table's metadata."""
        return RemoteDeviceRecord(address=str(self.remote), **self.info.model_dump(exclude={"missing"}))

    def runtime_changes(self) -> dict:
        """The table's runtime is the device's, not this machine's."""
        return {"version": getattr(self.info, self.settings.runtime)}

    @property
    def _suffix(self) -> str:
        return ".pte" if self.settings.runtime == "executorch" else ".onnx"

    def _file_bytes(self, modules: Sequence[nn.Module], shapes: Sequence[Sequence[int]]) -> list[bytes]:
        """What goes to the device for each module: its ONNX graph, or its ExecuTorch program
        (lowered on this host's cores, from the program cache where it is there)."""
        batch = self.settings.batch_size
        if self.settings.runtime == "executorch":
            from .executorch_programs import ProgramCache

            paths = ProgramCache(self.settings.program_cache).programs(modules, [(batch, *s) for s in shapes])
            return [path.read_bytes() for path in paths]
        return [onnx_bytes(m.cpu().eval(), torch.randn(batch, *s)) for m, s in zip(modules, shapes, strict=True)]

    def identity(self, reference_ms: float | None = None) -> dict:
        """The device, harness and unit a cached timing belongs to."""
        harness = {k: v for k, v in asdict(self.settings).items() if k not in ("remote", "fresh_process")}
        info = self.info.model_dump(exclude={"missing"})
        return {"device": str(self.remote), "info": info, "harness": harness, "reference_ms": reference_ms}

    def _timer(self, argument: str) -> str:
        """The shell command that runs the timer in its folder on the device."""
        folder, python = self.transport.folder(self.options.workdir), shell_path(self.options.python)
        return f"cd {folder} && {python} device_timer.py {argument}"

    def _probe(self) -> DeviceInfo:
        """Copy the timer there and ask what the device is; name what it lacks."""
        started = time.perf_counter()
        self.transport.push({"device_timer.py": TIMER_FILE.read_bytes()}, self.options.workdir, 60)
        runtime = self.settings.runtime
        try:
            info = DeviceInfo(**json.loads(self.transport.run(self._timer(f"--probe {runtime}"), timeout=60)))
        except DeviceError as err:
            raise DeviceError(f"{err}\nIs {self.options.python!r} a Python >= 3.9 on {self.remote}?") from err
        except (ValueError, ValidationError) as err:
            raise DeviceError(f"{self.remote}: the timer's probe answered something unexpected: {err}") from err
        if info.missing:
            raise DeviceError(
                f"{self.remote} ({info.cpu_model}, Python {info.python}) lacks {', '.join(info.missing)}: install "
                f"them there (docs/device-tables.md: {INSTALL[runtime]})"
            )
        if runtime == "executorch":
            from .executorch_programs import executorch_version

            here = executorch_version()
            if info.executorch != here:
                raise DeviceError(
                    f"{self.remote} has executorch {info.executorch} and this host {here}: programs are lowered "
                    f"here for the release that runs them; install executorch=={here} there (or the same here)"
                )
        logger.info("remote device %s: %s, %s cores, %s %s (%.1f s to reach)", self.remote, info.cpu_model,
                    info.cores, runtime, getattr(info, runtime), time.perf_counter() - started)  # fmt: skip
        return info

    def _time(
        self, modules: Sequence[nn.Module], shapes: Sequence[Sequence[int]], reference_ms: float | None, batch: int = 0
    ) -> tuple:
        """One batch on the device: its reference latency (measured there when ``reference_ms`` is
        None) and the modules' answers, by id."""
        s, suffix = self.settings, self._suffix
        files = {f"reference{suffix}": self._reference}
        models = []
        for i, (data, shape) in enumerate(zip(self._file_bytes(modules, shapes), shapes, strict=True)):
            files[f"m{i}{suffix}"] = data
            models.append({"id": f"m{i}", "file": f"m{i}{suffix}", "shape": [s.batch_size, *shape]})
        manifest = {
            "runtime": s.runtime, "threads": s.threads, "warmup": s.warmup, "repeats": s.repeats, "rounds": s.rounds,
            "quantile": s.quantile, "normalize": s.normalize, "max_spread": s.max_spread, "remeasure": s.remeasure,
            "reference": {"file": f"reference{suffix}", "shape": self._reference_shape},
            "reference_ms": reference_ms, "models": models,
        }  # fmt: skip
        files["manifest.json"] = json.dumps(manifest).encode()
        folder = f"{self.options.workdir}/batch"
        try:
            self.transport.push(files, folder, self.options.batch_timeout_s)
            out = self.transport.run(self._timer("batch/manifest.json"), timeout=self.options.batch_timeout_s)
        except DeviceError as err:
            raise DeviceError(f"batch {batch} ({len(modules)} modules): {err}") from err
        try:
            answer = _Answer.model_validate_json(out)
        except ValidationError as err:
            raise DeviceError(f"{self.remote}: batch {batch}: the timer's answer is not of its schema: {err}") from err
        if [t.id for t in answer.timings] != [m["id"] for m in models]:
            raise DeviceError(f"{self.remote}: batch {batch}: the timer answered for other modules than it was sent")
        timings = {t.id: Timing(t.ms, t.median_ms, t.spread, t.samples, t.raw_ms) for t in answer.timings}
        return answer.reference_ms, timings

    def time_modules(self, modules: Sequence[nn.Module], input_shapes: Sequence[tuple[int, ...]]) -> list[Timing]:
        """Every module on its own input shape, on the device, in batches of ``batch_size``
        (numbered over this profiler's whole life in the log and in errors)."""
        timings: list[Timing] = []
        size = self.options.batch_size
        for start in range(0, len(modules), size):
            begun, batch = time.perf_counter(), self._batches_sent
            self._batches_sent += 1
            chunk = list(range(start, min(start + size, len(modules))))
            chunk_modules, chunk_shapes = [modules[i] for i in chunk], [input_shapes[i] for i in chunk]
            _, timed = self._time(chunk_modules, chunk_shapes, self.reference_ms, batch)
            timings.extend(timed[f"m{n}"] for n in range(len(chunk)))
            # the table's own log says which batch of how many; this is the device's share of it
            logger.debug("remote batch %d: %d modules in %.1f s", batch, len(chunk), time.perf_counter() - begun)
        return timings

    def time_modules_cached(
        self, modules: Sequence[nn.Module], input_shapes: Sequence[tuple[int, ...]]
    ) -> list[Timing]:
        """:meth:`time_modules`, where a module timed before on this device (by an earlier build
        that lost its connection) is not timed again; each batch is cached as it returns. For a
        table's entries only: a second timing asked for on purpose (an entry off its curve, the
        noise floor's repeats) must not come from the cache."""
        keys = [module_key(m, shape, self.settings.batch_size) for m, shape in zip(modules, input_shapes, strict=True)]
        todo = [i for i, key in enumerate(keys) if key not in self.cache.timings]
        if len(todo) < len(keys):
            logger.info("remote device %s: %d of %d modules timed before, from the cache", self.remote,
                        len(keys) - len(todo), len(keys))  # fmt: skip
        size = self.options.batch_size
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            timed = self.time_modules([modules[i] for i in chunk], [input_shapes[i] for i in chunk])
            for i, timing in zip(chunk, timed, strict=True):
                self.cache.timings[keys[i]] = timing
                self.cache.add({"key": keys[i], **asdict(timing)})
        return [self.cache.timings[key] for key in keys]
