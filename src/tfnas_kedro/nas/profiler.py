"""Timing harness for modules on a device: CPU (batch 1, fixed threads) or CUDA (synchronised),
in eager PyTorch or, on the CPU, in onnxruntime (``runtimes``: how a module is called).

One harness times both the lookup table's blocks and whole networks, with the same statistic,
so that their numbers are comparable. Shared machines are noisy, and their speed drifts over
seconds (measured here: one network's median varied by 10-25% between minutes). Three defences:

* interleaved rounds: every module of a group is timed once per round, so a slow period hits one
  round of every module rather than every round of one;
* speed normalisation: each module's calls are timed next to a small fixed reference workload,
  and a sample is ``module time / reference time``, converted back to milliseconds with one
  reference latency (``reference_ms``) fixed for the whole table. Slow drifts of the machine
  cancel in the ratio; a table and the networks checked against it share ``reference_ms``;
* a robust statistic: a quantile of all samples (interference only ever adds time), with the
  median and spread kept, and noisy entries timed again.

On the CPU the process keeps the memory it frees (:func:`~.allocator.keep_freed_memory`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from . import device_timer
from .allocator import keep_freed_memory
from .device_address import RemoteDevice, RemoteDeviceRecord, RemoteOptions
from .runtimes import Runtime, runtime_callables

T = TypeVar("T")


@dataclass(frozen=True)
class ProfilerSettings:
    device: str = "cpu"
    batch_size: int = 1
    threads: int = 1  # CPU intra-op threads while timing (the paper: 1)
    warmup: int = 3  # untimed calls per module per round
    repeats: int = 5  # timed calls per module per round
    rounds: int = 3  # interleaved rounds over all modules of a group
    quantile: float = 0.25  # the statistic: this quantile of all timed calls
    normalize: bool = True  # time a fixed reference next to every module and divide out machine drift
    max_spread: float = 0.25  # (q75 - q25) / statistic above this counts as noisy...
    remeasure: int = 2  # ...and is timed again up to this many times
    runtime: Runtime = "torch"  # torch (eager) | onnxruntime (each module exported to ONNX, CPU) | executorch (XNNPACK)
    program_cache: str | None = None  # executorch: the folder of lowered programs (None: the user's cache)
    fresh_process: bool = True  # whole networks timed in a fresh worker process (calibration.measure_networks)
    remote: RemoteOptions | None = None  # how to reach the device when ``device`` is ssh:// or adb://

    def describe(self) -> dict:
        return asdict(self)

    def for_networks(self, rounds: int, repeats: int = 1) -> ProfilerSettings:
        """Whole networks: the same statistic, spread over more rounds (they are few and slow)."""
        return replace(self, rounds=rounds, repeats=repeats, warmup=min(self.warmup, 2))


def in_fresh_process(fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` run in a fresh worker process (spawned, not forked: a clean allocator and
    runtime, as a deployed model starts) and its result; ``fn`` and ``args`` must pickle."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as worker:
        return worker.submit(fn, *args).result()


def in_timing_process(settings: ProfilerSettings, fn: Callable[..., T], *args) -> T:
    """``fn(*args)`` where whole networks are timed: in a fresh worker process with
    ``settings.fresh_process`` (:func:`~.calibration.measure_networks` says why), else here. On a
    remote device every batch runs in a fresh timer process there already."""
    fresh = settings.fresh_process and RemoteDevice.parse(settings.device) is None
    return in_fresh_process(fn, *args) if fresh else fn(*args)


@dataclass(frozen=True)
class Timing:
    ms: float  # the statistic (``quantile`` of the samples), milliseconds
    median_ms: float
    spread: float  # interquartile range relative to the statistic
    samples: int
    raw_ms: float  # the same statistic of the plain wall-clock times, without normalisation


def reference_workload() -> tuple[nn.Module, tuple[int, ...]]:
    """A small fixed conv stack (about 4M MACs per image) whose speed tracks the machine's."""
    with torch.random.fork_rng(devices=[]):  # fixed weights without touching the caller's RNG
        torch.manual_seed(0)
        module = nn.Sequential(nn.Conv2d(32, 48, 3, padding=1), nn.ReLU(), nn.Conv2d(48, 32, 1))
    return module.eval(), (32, 24, 24)


@contextlib.contextmanager
def torch_threads(threads: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def device_name(device: torch.device) -> str:
    """A human-readable name of the hardware behind ``device`` (recorded with every table)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):  # noqa: SIM115 - Linux only; best effort elsewhere
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine()


class Profiler:
    """Times modules on one device. ``reference_ms`` fixes the reference workload's latency that
    normalised samples are converted with; pass the table's to time networks against a table."""

    # a table's entries are timed in shuffled groups of this many, the rounds interleaved within a
    # group: small enough that drift within one stays short, large enough to spread it
    group_size = 64

    def __init__(self, settings: ProfilerSettings, reference_ms: float | None = None):
        self.settings = settings
        self.device = torch.device(settings.device)
        if settings.runtime != "torch" and self.device.type != "cpu":
            raise RuntimeError(
                f"runtime {settings.runtime} times on the CPU here (not on {settings.device!r}): "
                "set the device to cpu, or the runtime to torch"
            )
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"latency device {settings.device!r} requested but CUDA is not available")
        if self.device.type == "cpu":
            keep_freed_memory()
        self.device_name = device_name(self.device)
        reference, shape = reference_workload()
        self._reference_input = torch.randn(settings.batch_size, *shape, device=self.device)
        # the yardstick runs where the modules run: an eager reference read an onnxruntime
        # network 30-40% faster timed alone than among other networks, same wall clock
        self._reference = runtime_callables(
            settings.runtime, [reference.to(self.device)], [self._reference_input], settings.threads,
            settings.program_cache,
        )[0]  # fmt: skip
        if reference_ms is None:
            self.reference_ms = self._measure_reference()  # warms it, then measures it
        else:
            self._warm_reference()
            self.reference_ms = reference_ms

    def _threads(self):
        return torch_threads(self.settings.threads) if self.device.type == "cpu" else contextlib.nullcontext()

    def _timer(self) -> Callable[[Callable[[], object]], float]:
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def time_cuda(call):
                start.record()
                call()
                end.record()
                end.synchronize()  # the kernels ran; elapsed_time is device time in ms
                return start.elapsed_time(end)

            return time_cuda

        def time_cpu(call):
            begin = time.perf_counter_ns()
            call()
            return (time.perf_counter_ns() - begin) / 1e6

        return time_cpu

    @torch.inference_mode()
    def _warm_reference(self, calls: int = 10) -> None:
        """Run the reference before it serves as the yardstick: its first call takes about five times
        as long (kernel selection, cold caches), and a profiler given a table's ``reference_ms``
        never measures it, so its first samples were divided by a cold reference. A lone
        onnxruntime network timed that way read 36% below its time among others here, 11% after."""
        with self._threads():
            for _ in range(calls):
                self._reference(self._reference_input)

    @torch.inference_mode()
    def _measure_reference(self, calls: int = 60) -> float:
        """The reference's latency: a low quantile of many calls, so a quiet moment sets the unit."""
        timer = self._timer()
        self._warm_reference()
        with self._threads():
            samples = [timer(lambda: self._reference(self._reference_input)) for _ in range(calls)]
        return float(np.quantile(samples, 0.1))

    def _summarise(self, ratios: list[float], raw: list[float]) -> Timing:
        """The statistic the device timer computes too (one definition for both)."""
        s = self.settings
        return Timing(**device_timer.summarise(ratios, raw, self.reference_ms, s.quantile, s.normalize))

    @torch.inference_mode()
    def _rounds(self, modules: Sequence[Callable], inputs: Sequence[torch.Tensor]):
        """Per module: samples (ratios to the reference when normalising, else ms) and raw ms."""
        s, timer = self.settings, self._timer()
        ratios: list[list[float]] = [[] for _ in modules]
        raw: list[list[float]] = [[] for _ in modules]
        ref = self._reference
        for _ in range(s.rounds):
            for i, (module, x) in enumerate(zip(modules, inputs, strict=True)):
                for _ in range(s.warmup):
                    module(x)
                times = [timer(lambda m=module, x=x: m(x)) for _ in range(s.repeats)]
                raw[i].extend(times)
                if s.normalize:
                    # the local speed: the median of five reference calls right after the module's
                    local = float(np.median([timer(lambda: ref(self._reference_input)) for _ in range(5)]))
                    ratios[i].extend(t / local for t in times)
                else:
                    ratios[i].extend(times)
        return ratios, raw

    def remote_device(self) -> RemoteDeviceRecord | None:
        """The identity of a remote device (:class:`.remote.RemoteProfiler`); this machine: None."""
        return None

    def runtime_changes(self) -> dict:
        """What differs from this machine's runtime where the timing runs (here: nothing)."""
        return {}

    def time_modules_cached(
        self, modules: Sequence[nn.Module], input_shapes: Sequence[tuple[int, ...]]
    ) -> list[Timing]:
        """:meth:`time_modules`: on this machine a build that stops leaves no timings to resume
        from (a remote device's profiler keeps them, :meth:`.remote.RemoteProfiler.time_modules_cached`)."""
        return self.time_modules(modules, input_shapes)

    def time_modules(self, modules: Sequence[nn.Module], input_shapes: Sequence[tuple[int, ...]]) -> list[Timing]:
        """Time every module on its own input shape (without batch dimension), interleaved, in the
        settings' runtime."""
        s = self.settings
        modules = [m.to(self.device).eval() for m in modules]
        inputs = [torch.randn(s.batch_size, *shape, device=self.device) for shape in input_shapes]
        modules = runtime_callables(s.runtime, modules, inputs, s.threads, s.program_cache)
        with self._threads():
            ratios, raw = self._rounds(modules, inputs)
            timings = [self._summarise(r, w) for r, w in zip(ratios, raw, strict=True)]
            for _ in range(s.remeasure):
                noisy = [i for i, t in enumerate(timings) if t.spread > s.max_spread]
                if not noisy:
                    break
                again, again_raw = self._rounds([modules[i] for i in noisy], [inputs[i] for i in noisy])
                for i, r, w in zip(noisy, again, again_raw, strict=True):
                    retimed = self._summarise(r, w)
                    if retimed.spread < timings[i].spread:
                        timings[i] = retimed
        return timings
