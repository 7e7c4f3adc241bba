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
from tfnas_kedro.nas.latency import block_spec, table_keys
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.remote import AdbTransport, RemoteProfiler

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
    assert profiler.remote_device()["address"] == f"adb://{SERIAL}" and profiler.reference_ms > 0
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
