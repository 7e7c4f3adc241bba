"""ExecuTorch programs timed on a phone over adb by a native runner, since a phone has no Python.

``latency.device: adb://SERIAL`` with ``runtime: executorch`` and ``latency.remote.runner``: the
path, on this host, of ExecuTorch's ``executor_runner`` built for the phone's ABI with the XNNPACK
backend (ExecuTorch's docs: "Building and Running ExecuTorch with XNNPACK Backend"). The project
pushes it once to the device's work folder, checks it with a trial run, then per batch pushes the
``.pte`` programs and a shell script that runs the runner on each, in interleaved rounds, each
run followed by one of the reference program, and parses the runner's log.

The runner's command line and log, as read from ExecuTorch's source
(``examples/portable/executor_runner/executor_runner.cpp`` on ``main`` at cff6f4dd, 2026-08-22,
version 1.5.0; the same lines in ``release/1.4``; the pip release here is 1.5.1)::

    executor_runner --model_path M.pte --num_executions N --cpu_threads T
    I 00:00:00.012345 executorch:executor_runner.cpp:781] Iteration 1 of N: 1.234000 ms
    I 00:00:00.023456 executorch:executor_runner.cpp:791] Model executed successfully N time(s) in 9.87 ms.

(``ET_LOG`` writes to stderr, ``%c %02u:%02u:%02u.%06lu executorch:%s:%zu] %s``; the outputs go to
stdout.) The runner fills its inputs with ones and times only ``method->execute()``, per
iteration, so the statistic is the same as elsewhere: the ``quantile`` of every timed iteration,
divided by the median of five reference iterations run right after, after ``warmup`` untimed
iterations in each process. A runner that prints only the total (older builds) gives one mean per
process instead of one time per iteration: the quantile is then over those means, which hides
slow iterations within a process and reads higher than the per-iteration quantile would.
"""

from __future__ import annotations

import logging
import re
import shlex
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from . import device_timer
from .device_address import DeviceError, DeviceInfo
from .profiler import Timing, reference_workload
from .remote import RemoteProfiler

logger = logging.getLogger(__name__)

ITERATION = re.compile(r"\] Iteration (\d+) of (\d+): ([0-9.]+) ms")
TOTAL = re.compile(r"\] Model executed successfully (\d+) time\(s\) in ([0-9.]+) ms")
RUNNER = "executor_runner"
BUILD_IT = "build ExecuTorch's executor_runner with XNNPACK for the device (docs/device-tables.md)"
# ELF e_machine of each Android ABI, and `uname -m` of the devices that run it
ELF_MACHINES = {183: "arm64-v8a", 40: "armeabi-v7a", 62: "x86_64", 3: "x86"}
UNAME_ABIS = {"aarch64": "arm64-v8a", "armv8l": "armeabi-v7a", "armv7l": "armeabi-v7a", "x86_64": "x86_64",
              "i686": "x86"}  # fmt: skip


def runner_abi(path: Path) -> str:
    """The Android ABI a runner binary was built for, from its ELF header."""
    try:
        header = path.read_bytes()[:20]
    except OSError as err:
        raise DeviceError(
            f"latency.remote.runner {path}: cannot read it ({err}): build executor_runner for the device"
        ) from err
    if header[:4] != b"\x7fELF":
        raise DeviceError(
            f"latency.remote.runner {path} is not an ELF executable: build executor_runner for the device"
        )
    byte_order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(f"{byte_order}H", header[18:20])
    return ELF_MACHINES.get(machine, f"ELF machine {machine}")


def check_abi(runner: Path, uname_machine: str, device: str) -> str:
    """Stop, naming both, where the runner was built for another ABI than the device's."""
    built, wanted = runner_abi(runner), UNAME_ABIS.get(uname_machine.strip(), uname_machine.strip())
    if built != wanted:
        raise DeviceError(
            f"latency.remote.runner {runner} is built for {built}, but {device} is {wanted} ({uname_machine.strip()}): "
            f"build executor_runner for {wanted} (Android NDK, ABI {wanted})"
        )
    return wanted


def iteration_ms(log: str) -> tuple[list[float], bool]:
    """The per-iteration times of one runner process, and whether they are per iteration (True) or
    the total's mean repeated (an older runner's only figure)."""
    times = [float(m.group(3)) for m in ITERATION.finditer(log)]
    if times:
        return times, True
    total = TOTAL.search(log)
    if total is None:
        raise DeviceError(f"the runner's log has no timing: {log.strip()[-400:]!r}")
    runs = int(total.group(1))
    return [float(total.group(2)) / runs] * runs, False


def batch_script(ids: list[str], rounds: int, executions: int, threads: int, reference_executions: int) -> str:
    """The device's shell script for one batch: ``rounds`` interleaved rounds, each program's run
    followed by one of the reference; every run's log after a ``== id`` line."""
    run = f"../{RUNNER} --cpu_threads {threads} --num_executions"  # the runner sits above the batch folder
    lines = ['cd "$(dirname "$0")"', f"for round in $(seq {rounds}); do"]
    for model in ids:
        lines += [
            f"  echo '== {model}'",
            f"  {run} {executions} --model_path {shlex.quote(model)}.pte 2>&1 >/dev/null || exit 1",
            "  echo '== reference'",
            f"  {run} {reference_executions} --model_path reference.pte 2>&1 >/dev/null || exit 1",
        ]
    return "\n".join([*lines, "done", ""])


def unit_script(executions: int, threads: int) -> str:
    """The device's shell script that measures the reference alone: a table's unit."""
    return (
        f'cd "$(dirname "$0")"\necho \'== reference\'\n'
        f"../{RUNNER} --cpu_threads {threads} --num_executions {executions} "
        "--model_path reference.pte 2>&1 >/dev/null\n"
    )


def sections(log: str) -> list[tuple[str, str]]:
    """The script's output as ``(id, that run's log)``, in order."""
    parts = re.split(r"^== (\S+)$", log, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def summarise_batch(
    log: str, ids: list[str], warmup: int, reference_ms: float, quantile: float, normalize: bool = True
) -> dict[str, dict]:
    """Each program's timing (:func:`~.device_timer.summarise`) from a batch script's output: its
    timed iterations (after ``warmup``), each divided by the median of the next reference run's
    (not divided with ``normalize`` off)."""
    ratios: dict[str, list[float]] = {i: [] for i in ids}
    raw: dict[str, list[float]] = {i: [] for i in ids}
    pending: tuple[str, list[float]] | None = None  # a program's times, waiting for the reference after it
    for name, text in sections(log):
        times, _ = iteration_ms(text)
        if name == "reference" and pending is not None:
            local = float(np.median(times[1:] or times))  # its first iteration is a cold start
            ratios[pending[0]].extend(t / local if normalize else t for t in pending[1])
            pending = None
        elif name in ratios:
            pending = (name, times[warmup:] or times)
            raw[name].extend(pending[1])
    missing = [i for i in ids if not ratios[i]]
    if missing:
        raise DeviceError(f"the runner's log has no timing of {', '.join(missing)}")
    return {i: device_timer.summarise(ratios[i], raw[i], reference_ms, quantile, normalize) for i in ids}


def unit_ms(log: str, warm: int) -> float:
    """The reference's latency from :func:`unit_script`'s output: a low quantile of its iterations
    after ``warm`` (as the other timers measure it)."""
    times, _ = iteration_ms(log)
    return float(np.quantile(times[warm:] or times, 0.1))


class NativeRunnerProfiler(RemoteProfiler):
    """:class:`~.remote.RemoteProfiler`'s interface on a phone over adb: the same batches, cache
    and unit, with ExecuTorch programs timed by the native runner instead of the Python timer."""

    WARM_UNIT, UNIT_CALLS = 10, 60  # the reference alone: warm calls, then calls summarised

    def _runner(self) -> Path:
        if not self.options.runner:
            raise DeviceError(
                f"{self.remote}: runtime executorch over adb runs ExecuTorch's executor_runner built for the "
                "phone: set latency.remote.runner to its path on this host (docs/device-tables.md)"
            )
        return Path(self.options.runner)

    def _probe(self) -> DeviceInfo:
        """What the phone is (``uname``, ``/proc/cpuinfo``: no Python there), the runner's ABI
        checked against it, the runner pushed once and checked with a trial run of the reference."""
        from .executorch_programs import ProgramCache, executorch_version

        runner, run = self._runner(), self.transport.run
        machine = run("uname -m", timeout=60).decode().strip()
        abi = check_abi(runner, machine, str(self.remote))
        cpu = run("grep -m 1 -i -E '^(hardware|model name|cpu model)' /proc/cpuinfo || true", timeout=60).decode()
        cores = run("grep -c ^processor /proc/cpuinfo || true", timeout=60).decode().strip()
        folder = self.transport.folder(self.options.workdir)
        self.transport.push({RUNNER: runner.read_bytes()}, self.options.workdir, self.options.batch_timeout_s)
        run(f"chmod 755 {folder}/{RUNNER}", timeout=60)
        reference, shape = reference_workload()
        trial = ProgramCache(self.settings.program_cache).programs([reference], [(self.settings.batch_size, *shape)])
        self.transport.push({"reference.pte": trial[0].read_bytes(), "unit.sh": unit_script(2, 1).encode()},
                            f"{self.options.workdir}/batch", 60)  # fmt: skip
        try:
            iteration_ms(run(f"sh {folder}/batch/unit.sh", timeout=60).decode(errors="replace"))
        except DeviceError as err:
            raise DeviceError(f"{self.remote}: the runner's trial run failed ({runner}, {abi}): {err}") from err
        info = DeviceInfo(
            python="none: native runner", uname=run("uname -a", timeout=60).decode().strip(), machine=machine,
            cpu_model=cpu.split(":", 1)[-1].strip() or machine, cores=int(cores) if cores.isdigit() else None,
            executorch=executorch_version(),  # the programs' release; the runner does not print its own
        )  # fmt: skip
        logger.info("remote device %s: %s (%s), %s cores, executorch runner %s", self.remote, info.cpu_model, abi,
                    info.cores, runner)  # fmt: skip
        return info

    def _time(
        self, modules: Sequence[nn.Module], shapes: Sequence[Sequence[int]], reference_ms: float | None, batch: int = 0
    ) -> tuple:
        s, folder = self.settings, self.transport.folder(self.options.workdir)
        ids = [f"m{i}" for i in range(len(modules))]
        files = {
            "reference.pte": self._reference,
            **{f"{i}.pte": d for i, d in zip(ids, self._file_bytes(modules, shapes), strict=True)},
        }
        files["unit.sh"] = unit_script(self.WARM_UNIT + self.UNIT_CALLS, s.threads).encode()
        try:
            self.transport.push(files, f"{self.options.workdir}/batch", self.options.batch_timeout_s)
            if reference_ms is None:
                reference_ms = unit_ms(self._run_script(folder, "unit.sh"), self.WARM_UNIT)
            timings = self._rounds(folder, ids, reference_ms) if ids else {}
        except DeviceError as err:
            raise DeviceError(f"batch {batch} ({len(modules)} modules): {err}") from err
        return reference_ms, {i: Timing(**t) for i, t in timings.items()}

    def _run_script(self, folder: str, name: str) -> str:
        return self.transport.run(f"sh {folder}/batch/{name}", timeout=self.options.batch_timeout_s).decode(
            errors="replace"
        )

    def _rounds(self, folder: str, ids: list[str], reference_ms: float) -> dict[str, dict]:
        """The batch's interleaved rounds, then noisy programs timed again (as the other timers do)."""
        s = self.settings

        def timed(chosen: list[str]) -> dict[str, dict]:
            script = batch_script(chosen, s.rounds, s.warmup + s.repeats, s.threads, 6)
            self.transport.push({"run.sh": script.encode()}, f"{self.options.workdir}/batch", 60)
            return summarise_batch(self._run_script(folder, "run.sh"), chosen, s.warmup, reference_ms, s.quantile,
                                   s.normalize)  # fmt: skip

        timings = timed(ids)
        for _ in range(s.remeasure):
            noisy = [i for i in ids if timings[i]["spread"] > s.max_spread]
            if not noisy:
                break
            for i, again in timed(noisy).items():
                if again["spread"] < timings[i]["spread"]:
                    timings[i] = again
        return timings
