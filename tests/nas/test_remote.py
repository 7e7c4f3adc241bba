"""Latency tables timed on a remote device, against a real OpenSSH server on 127.0.0.1 (the
``sshd`` fixture, tests/sshd.py): the "device" is this machine, reached through ssh."""

import getpass
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import free_port
from tfnas_kedro.nas.blocks import MBInvRes
from tfnas_kedro.nas.device_address import DeviceError, RemoteDevice
from tfnas_kedro.nas.latency import KEY_COLUMNS, block_spec
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.remote import RemoteProfiler
from tfnas_kedro.nas.table_build import build_latency_table, table_keys

# a few dozen entries: the small space at 32 px, on a coarse grid
BUILD = {"resolution": 32, "num_classes": 4, "width_step": 64, "channel_block": 0}
HARNESS = ProfilerSettings(runtime="onnxruntime", warmup=1, repeats=3, rounds=2)


def _remote(sshd, **options) -> ProfilerSettings:
    return replace(HARNESS, device=sshd.address, remote=sshd.options(**options))


@pytest.mark.slow
@pytest.mark.timing
def test_a_table_timed_through_ssh_agrees_with_one_timed_here(sshd, small_space, tmp_path):
    """Both in onnxruntime on this machine, every bound from the noise this run measures.

    The unit: the reference's latency read by timer processes through ssh, against the same timer
    run here in as many fresh processes, taken in turns so that the machine's drift touches both
    alike. Their medians must agree within three times the larger spread (max/min) of the two
    groups: under independent noise that fails about once in a thousand runs, while a timer that
    timed another workload or thread count (tens of percent off, within a percent of itself) fails.

    The entries: relative to each other (each table's unit divided out), some remote table must
    agree with some local one as closely as two tables of one kind agree, times two. Two of each:
    a build that a busy moment disturbed (remote 4.4% against local 2.1% once here, while another
    job ran) widens the within-kind bound and drops out of the closest cross pair, while a remote
    timer that times other modules or threads misses every local table."""
    profiler = RemoteProfiler(_remote(sshd))
    here, there = [], []
    for _ in range(3):
        here.append(_reference_ms_in_a_fresh_process(tmp_path))
        there.append(profiler.measure_reference(processes=1))
    spread = max(np.log(max(group) / min(group)) for group in (here, there))
    assert abs(np.log(np.median(there) / np.median(here))) <= 3 * spread, (there, here)

    local = [build_latency_table([small_space], settings=HARNESS, **BUILD) for _ in range(2)]
    remote = [build_latency_table([small_space], settings=_remote(sshd), **BUILD) for _ in range(2)]
    assert remote[0].meta.device == sshd.address and remote[0].meta.remote_device.address == sshd.address
    assert remote[0].meta.remote_device.onnxruntime == remote[0].meta.runtime.version
    assert remote[0].meta.device_name == local[0].meta.device_name  # the CPU model, as the device reports it

    def shape_error(table, other) -> float:  # entries against entries, the common scale divided out
        ratio = _ms(table) / _ms(other)
        return float(np.median(np.abs(ratio / ratio.median() - 1)))

    within = max(shape_error(*local), shape_error(*remote))
    across = min(shape_error(r, t) for r in remote for t in local)
    assert across <= 2 * within, (across, within)


def _reference_ms_in_a_fresh_process(folder) -> float:
    """The reference's latency as the device timer reads it, run here without ssh."""
    import json

    import torch

    from tfnas_kedro.nas.profiler import reference_workload
    from tfnas_kedro.nas.remote import TIMER_FILE
    from tfnas_kedro.nas.runtimes import onnx_bytes

    reference, shape = reference_workload()
    (folder / "reference.onnx").write_bytes(onnx_bytes(reference, torch.randn(1, *shape)))
    manifest = {
        "threads": 1, "warmup": 1, "repeats": 1, "rounds": 1, "quantile": 0.25, "normalize": True,
        "max_spread": 0.25, "remeasure": 0, "reference": {"file": "reference.onnx", "shape": [1, *shape]},
        "reference_ms": None, "models": [],
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, str(TIMER_FILE), str(folder / "manifest.json")], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)["reference_ms"]


def _ms(table):
    return table.entries.set_index([*KEY_COLUMNS, "mid"])["ms"].sort_index()


@pytest.mark.slow
def test_a_build_whose_connection_drops_resumes_without_timing_finished_entries(
    sshd, small_space, tmp_path, monkeypatch
):
    settings = _remote(sshd, cache_dir=str(tmp_path / "cache"), batch_size=8)
    timed_batches, dropped = [], []
    original = RemoteProfiler.time_modules

    def counting(self, modules, shapes):
        if len(timed_batches) == 3 and not dropped:
            sshd.stop()  # the connection drops after three batches, once
            dropped.append(True)
        timings = original(self, modules, shapes)
        timed_batches.append(len(modules))
        return timings

    monkeypatch.setattr(RemoteProfiler, "time_modules", counting)
    # batches numbered over the whole build: the stem and head were batch 0, then two of entries
    with pytest.raises(DeviceError, match=rf"batch 3 \(8 modules\): cannot reach {sshd.address}"):
        build_latency_table([small_space], settings=settings, **BUILD, curve_tolerance=None)
    done_before = sum(timed_batches)
    assert len(timed_batches) == 3 and done_before > 0
    sshd.start()
    sizes, timed_batches[:] = list(timed_batches), []  # the second build, counted alone
    table = build_latency_table([small_space], settings=settings, **BUILD, curve_tolerance=None)
    entries_and_base = len(table.entries) + 2  # the stem and the head are timed as entries too
    assert sum(timed_batches) == entries_and_base - done_before  # nothing timed twice
    assert sizes == [2, 8, 8]  # the stem and head, then entries in batches of 8


@pytest.mark.timing  # sshd refuses the key in its first exchange (under a second here); 10 s: a busy machine
def test_a_key_the_device_does_not_accept_fails_within_seconds_naming_the_device(sshd):
    started = time.monotonic()
    with pytest.raises(DeviceError, match=rf"cannot reach {sshd.address} over ssh: .*Permission denied"):
        RemoteProfiler(replace(HARNESS, device=sshd.address, remote=sshd.options(key="other_key")))
    assert time.monotonic() - started < 10


@pytest.mark.timing  # a closed port is refused at once; 10 s leaves room for a busy machine
def test_a_port_nobody_listens_on_fails_within_seconds_naming_the_device(sshd):
    address = f"ssh://{getpass.getuser()}@127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(DeviceError, match=f"cannot reach {address} over ssh: .*refused"):
        RemoteProfiler(replace(HARNESS, device=address, remote=sshd.options()))
    assert time.monotonic() - started < 10


def test_an_interpreter_without_onnxruntime_is_named_with_what_to_install(sshd, tmp_path):
    bare = tmp_path / "bare"  # a venv without packages: Python there, numpy and onnxruntime not
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    options = replace(sshd.options(), python=str(bare / "bin" / "python"))
    with pytest.raises(DeviceError, match=r"lacks numpy, onnxruntime: install them there"):
        RemoteProfiler(replace(HARNESS, device=sshd.address, remote=options))


@pytest.mark.timing  # the 2 s timeout, not the machine's speed, sets the time; 10 s covers the connection and the probe
def test_a_timer_that_hangs_stops_at_the_batch_timeout_naming_the_batch(sshd, small_space, tmp_path):
    profiler = RemoteProfiler(_remote(sshd))
    hanging = tmp_path / "hanging-python"  # answers the probe, then hangs in every batch
    hanging.write_text("#!/bin/sh\nsleep 30\n")
    hanging.chmod(0o755)
    profiler.options = replace(profiler.options, python=str(hanging), batch_timeout_s=2)
    key, mids = next(iter(table_keys([small_space.at_resolution(32)], 64).items()))
    started = time.monotonic()
    with pytest.raises(DeviceError, match=r"batch 0 \(1 modules\): .*no answer within 2 s"):
        profiler.time_modules([MBInvRes(block_spec(key, mids[0]))], [(key[1], key[0], key[0])])
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("cpu", None),
        ("cuda:1", None),
        ("ssh://pi@raspberrypi.local", ("ssh", "pi@raspberrypi.local", None)),
        ("ssh://jetson:2222", ("ssh", "jetson", 2222)),
        ("adb://R58M123ABC", ("adb", "R58M123ABC", None)),
    ],
)
def test_a_device_address_is_local_or_names_its_remote_device(address, expected):
    from tfnas_kedro.nas.device_address import RemoteDevice

    parsed = RemoteDevice.parse(address)
    assert (parsed and (parsed.scheme, parsed.target, parsed.port)) == expected
    if parsed is not None:
        assert str(parsed) == address


@pytest.mark.parametrize("address", ["scp://pi@host", "ssh://", "ssh://pi@host:port", "ssh://pi@host/folder"])
def test_a_malformed_device_address_says_what_it_takes(address):
    from tfnas_kedro.nas.device_address import RemoteDevice

    with pytest.raises(DeviceError, match=r"use ssh://\[user@\]host\[:port\] or adb://SERIAL|port must be a number"):
        RemoteDevice.parse(address)


def test_the_timer_times_onnx_files_and_answers_json_of_its_schema(tmp_path):
    """The one file that goes to the device, run here as the device runs it: a manifest of ONNX
    files in, JSON out, which the host's schema accepts."""
    import json

    import torch

    from tfnas_kedro.nas.profiler import reference_workload
    from tfnas_kedro.nas.remote import TIMER_FILE, _Answer
    from tfnas_kedro.nas.runtimes import onnx_bytes

    reference, shape = reference_workload()
    (tmp_path / "reference.onnx").write_bytes(onnx_bytes(reference, torch.randn(1, *shape)))
    small, large = torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Conv2d(8, 64, 3, padding=1)
    for name, module in (("small", small), ("large", large)):
        (tmp_path / f"{name}.onnx").write_bytes(onnx_bytes(module.eval(), torch.randn(1, 8, 32, 32)))
    manifest = {
        "threads": 1, "warmup": 2, "repeats": 5, "rounds": 3, "quantile": 0.25, "normalize": True,
        "max_spread": 0.25, "remeasure": 1, "reference": {"file": "reference.onnx", "shape": [1, *shape]},
        "reference_ms": None,
        "models": [{"id": n, "file": f"{n}.onnx", "shape": [1, 8, 32, 32]} for n in ("small", "large")],
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, str(TIMER_FILE), str(tmp_path / "manifest.json")], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    answer = _Answer.model_validate_json(done.stdout)
    small_ms, large_ms = (t.ms for t in answer.timings)
    assert [t.id for t in answer.timings] == ["small", "large"] and 0 < small_ms < large_ms
    probe = json.loads(subprocess.run([sys.executable, str(TIMER_FILE), "--probe"], capture_output=True).stdout)
    assert probe["missing"] == [] and probe["onnxruntime"] and probe["cores"] >= 1


def test_an_answer_outside_the_schema_is_refused():
    from pydantic import ValidationError

    from tfnas_kedro.nas.remote import _Answer, shell_path

    good = {"schema": "tfnas-device-timer/1", "reference_ms": 0.1, "timings": []}
    _Answer.model_validate(good)
    for bad in ({**good, "schema": "other/1"}, {**good, "run": "rm -rf /"}, {**good, "reference_ms": -1}):
        with pytest.raises(ValidationError):
            _Answer.model_validate(bad)
    assert shell_path("~/venv/bin/python") == '"$HOME"/venv/bin/python' and shell_path("a b") == "'a b'"


def test_the_timer_is_python_3_9_and_imports_nothing_of_the_project():
    """The device may have Python 3.9 and has nothing of this project: the timer's grammar is
    3.9's and it imports only the standard library, NumPy and a runtime (onnxruntime, or torch and
    ExecuTorch)."""
    import ast

    from tfnas_kedro.nas.remote import TIMER_FILE

    tree = ast.parse(TIMER_FILE.read_text(), feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"numpy", "onnxruntime", "torch", "executorch"}, imported
    assert not any(isinstance(node, ast.Match) for node in ast.walk(tree))


@pytest.mark.slow
@pytest.mark.timing
def test_executorch_programs_are_timed_on_an_ssh_device_in_its_executorch(sshd, tmp_path):
    """``runtime: executorch`` over ssh: the host lowers each module (into its program cache),
    the device's timer runs the ``.pte`` files in its ExecuTorch; the table's runtime version is
    the device's, which must be the host's release. The one timing assertion compares convolutions
    12x apart in MACs, timed interleaved: no slow moment of a shared machine closes that gap."""
    import torch

    from tfnas_kedro.nas.executorch_programs import executorch_version

    settings = replace(
        HARNESS, runtime="executorch", program_cache=str(tmp_path / "programs"), device=sshd.address,
        remote=sshd.options(),
    )  # fmt: skip
    profiler = RemoteProfiler(settings)
    assert profiler.info.executorch == executorch_version() and profiler.info.torch == torch.__version__
    assert profiler.runtime_changes() == {"version": executorch_version()}
    small, large = torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Conv2d(8, 96, 3, padding=1)
    timings = profiler.time_modules([small, large], [(8, 32, 32), (8, 32, 32)])
    assert 0 < timings[0].ms < timings[1].ms  # 12x the MACs
    assert len(list((tmp_path / "programs").glob("*.pte"))) == 3  # the reference and both modules
    sent = {p.name for p in (sshd.folder / "device" / "batch").iterdir()}
    assert {"m0.pte", "m1.pte", "reference.pte"} <= sent  # programs went to the device, not ONNX graphs


def test_a_device_without_executorch_or_a_runtime_no_device_runs_is_named_with_what_to_set(sshd, tmp_path):
    from tfnas_kedro.nas.device_address import check_runtime
    from tfnas_kedro.params import LatencyParams

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    settings = replace(HARNESS, runtime="executorch", device=sshd.address)
    with pytest.raises(DeviceError, match=r"lacks numpy, torch, executorch: install them there"):
        RemoteProfiler(replace(settings, remote=replace(sshd.options(), python=str(bare / "bin" / "python"))))
    check_runtime(RemoteDevice.parse("adb://emulator-5554"), "executorch")  # over adb: the native runner
    with pytest.raises(DeviceError, match="not runtime torch"):
        check_runtime(RemoteDevice.parse("adb://emulator-5554"), "torch")
    with pytest.raises(ValueError, match="not runtime torch.*set latency.runtime"):
        LatencyParams(device=sshd.address, runtime="torch")
    LatencyParams(device=sshd.address, runtime="executorch")  # over ssh: allowed
