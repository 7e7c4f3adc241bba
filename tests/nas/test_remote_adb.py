"""The adb transport, against a stand-in for adb (tests/fake_adb.py) that runs the "device" side
on this machine with adb's own behaviour: ``exec-in`` passes neither stderr nor the exit status,
an unknown serial fails before any command. A real phone has not been tried here
(docs/device-tables.md)."""

import sys
import time
from dataclasses import replace

import pytest

from tests.fake_adb import __file__ as FAKE_ADB
from tfnas_kedro.nas.blocks import MBInvRes
from tfnas_kedro.nas.device_address import DeviceError, RemoteDevice, RemoteOptions
from tfnas_kedro.nas.latency import block_spec
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.remote import AdbTransport, RemoteProfiler
from tfnas_kedro.nas.table_build import table_keys

SERIAL = "emulator-5554"
HARNESS = ProfilerSettings(runtime="onnxruntime", warmup=1, repeats=2, rounds=1, device=f"adb://{SERIAL}")


@pytest.fixture
def adb(tmp_path, monkeypatch) -> RemoteOptions:
    """``adb`` on PATH answering to SERIAL; the options that time with this machine's Python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "adb").write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({FAKE_ADB!r}, run_name='__main__')\n"
    )
    (bin_dir / "adb").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_ADB_SERIAL", SERIAL)
    return RemoteOptions(python=sys.executable, workdir=str(tmp_path / "device"), batch_size=2)


def test_blocks_are_timed_through_adb_with_the_device_named(adb, small_space):
    profiler = RemoteProfiler(replace(HARNESS, remote=adb))
    assert profiler.remote_device().address == f"adb://{SERIAL}" and profiler.reference_ms > 0
    keys = list(table_keys([small_space.at_resolution(32)], 64).items())[:3]
    modules = [MBInvRes(block_spec(key, mids[0])) for key, mids in keys]
    timings = profiler.time_modules(modules, [(key[1], key[0], key[0]) for key, _ in keys])
    assert len(timings) == 3 and all(t.ms > 0 for t in timings)  # in two batches of at most 2


def test_an_unknown_serial_fails_naming_the_device(adb):
    device = replace(HARNESS, device="adb://R58M123", remote=adb)
    with pytest.raises(DeviceError, match=r"cannot reach adb://R58M123 over adb: adb: device 'R58M123' not found"):
        RemoteProfiler(device)


def test_a_failed_copy_is_caught_though_exec_in_passes_no_exit_status(adb):
    """exec-in returns 0 whatever tar did; the status printed after the marker says it failed."""
    transport = AdbTransport(RemoteDevice.parse(HARNESS.device), adb)
    with pytest.raises(DeviceError, match=r"failed \(exit status [1-9]\d*\): .*(Permission denied|Read-only|No such)"):
        transport.push({"a.txt": b"x"}, "/proc/tfnas-cannot-write-here", timeout=30)


def test_a_python_that_is_not_there_is_named(adb):
    options = replace(adb, python="/opt/no-python-here/python3")
    started = time.monotonic()
    with pytest.raises(
        DeviceError, match=r"(?s)exit status 127\): .*not found.*Is '/opt/no-python-here/python3' a Python >= 3.9"
    ):
        RemoteProfiler(replace(HARNESS, remote=options))
    assert time.monotonic() - started < 30


def test_without_adb_on_this_machine_the_error_says_to_install_it(adb, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DeviceError, match=r"adb is not installed on this host"):
        RemoteProfiler(replace(HARNESS, remote=adb))


def test_a_relative_folder_is_in_the_folder_adbs_shell_user_can_write():
    transport = AdbTransport(RemoteDevice.parse(HARNESS.device), RemoteOptions())
    assert transport.folder("tfnas-timer") == "/data/local/tmp/tfnas-timer"
    assert transport.folder("/sdcard/t") == "/sdcard/t"


def _native_runner(folder) -> str:
    """The runner stand-in (tests/fake_executor_runner.py) behind an ELF executable of this
    machine's ABI, as the host checks a runner's ELF header against the device's ABI."""
    import subprocess

    from tests.fake_executor_runner import __file__ as FAKE_RUNNER

    source = folder / "runner.c"
    source.write_text(
        "#include <unistd.h>\n"
        "int main(int argc, char **argv) {\n"
        f'  char *args[64] = {{"{sys.executable}", "{FAKE_RUNNER}"}};\n'
        "  for (int i = 1; i < argc && i < 62; i++) args[i + 1] = argv[i];\n"
        "  execv(args[0], args);\n  return 127;\n}\n"
    )
    subprocess.run(["gcc", "-o", str(folder / "executor_runner"), str(source)], check=True)
    return str(folder / "executor_runner")


@pytest.mark.slow
def test_executorch_programs_are_timed_on_a_phone_by_its_native_runner(adb, tmp_path):
    """No Python on a phone: ExecuTorch's executor_runner (pushed once, checked by a trial run)
    times each program; the host reads its per-iteration log."""
    import torch

    from tfnas_kedro.nas.native_runner import NativeRunnerProfiler
    from tfnas_kedro.nas.profilers import make_profiler

    options = replace(adb, runner=_native_runner(tmp_path), python="not-there")  # no Python is used
    settings = replace(HARNESS, runtime="executorch", remote=options, program_cache=str(tmp_path / "programs"))
    profiler = make_profiler(settings)
    assert isinstance(profiler, NativeRunnerProfiler) and profiler.reference_ms > 0
    assert profiler.info.python == "none: native runner" and profiler.info.machine
    small, large = torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Conv2d(8, 96, 3, padding=1)
    timings = profiler.time_modules([small, large], [(8, 32, 32), (8, 32, 32)])
    assert all(t.ms > 0 and t.samples == HARNESS.rounds * HARNESS.repeats for t in timings)
    assert (tmp_path / "device" / "executor_runner").exists()  # pushed to the work folder once


def test_the_runners_log_is_read_per_iteration_or_from_its_total(monkeypatch):
    from tfnas_kedro.nas.native_runner import iteration_ms, summarise_batch

    stamp = "I 00:00:01.000001 executorch:executor_runner.cpp"
    per_iteration = (
        f"{stamp}:476] Model file m0.pte is loaded.\n{stamp}:781] Iteration 1 of 3: 2.500000 ms\n"
        f"{stamp}:781] Iteration 2 of 3: 1.000000 ms\n{stamp}:781] Iteration 3 of 3: 1.200000 ms\n"
        f"{stamp}:791] Model executed successfully 3 time(s) in 4.700000 ms.\n"
    )
    assert iteration_ms(per_iteration) == ([2.5, 1.0, 1.2], True)
    assert iteration_ms(f"{stamp}:791] Model executed successfully 2 time(s) in 3.000000 ms.\n") == ([1.5, 1.5], False)
    with pytest.raises(DeviceError, match="no timing"):
        iteration_ms("E 00:00:00.000001 executorch:executor_runner.cpp:473] Failed to parse model file m0.pte\n")
    reference = f"{stamp}:781] Iteration 1 of 3: 9.0 ms\n{stamp}:781] Iteration 2 of 3: 0.5 ms\n" + (
        f"{stamp}:781] Iteration 3 of 3: 0.5 ms\n"
    )
    # one warm-up iteration dropped; each time divided by the next reference run's median (its cold first dropped)
    timing = summarise_batch(f"== m0\n{per_iteration}== reference\n{reference}", ["m0"], 1, 0.25, 0.5)["m0"]
    assert timing["samples"] == 2 and timing["ms"] == pytest.approx(0.25 * (1.0 + 1.2) / 2 / 0.5)
    assert timing["raw_ms"] == pytest.approx(1.1)


def test_a_runner_for_another_abi_or_none_at_all_is_named(adb, tmp_path):
    from tfnas_kedro.nas.profilers import make_profiler

    arm64 = tmp_path / "executor_runner"
    arm64.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little") + bytes(44))
    settings = replace(HARNESS, runtime="executorch", program_cache=str(tmp_path / "programs"))
    with pytest.raises(DeviceError, match=r"built for arm64-v8a, but adb://emulator-5554 is x86_64 \(x86_64\)"):
        make_profiler(replace(settings, remote=replace(adb, runner=str(arm64))))
    with pytest.raises(DeviceError, match="set latency.remote.runner"):
        make_profiler(replace(settings, remote=adb))
    (tmp_path / "script").write_text("#!/bin/sh\n")
    with pytest.raises(DeviceError, match="is not an ELF executable"):
        make_profiler(replace(settings, remote=replace(adb, runner=str(tmp_path / "script"))))
