"""A latency table timed on a remote device next to the same table timed here: the time per entry
of each, the cost of the connection, and how the two tables agree.

Without ``--device`` the remote device is this machine reached through a throwaway OpenSSH server
on 127.0.0.1 (needs sshd: apt-get install openssh-server), so the two tables time the same CPU and
should agree within the noise floor, which a second local build measures. With ``--device`` and
``--python``/``--ssh-option`` it times your device (the tables then differ by hardware; the
entry-to-entry agreement still says whether the device's kernels rank blocks alike).

    .venv/bin/python benchmarks/remote_table.py [--device ssh://pi@raspberrypi.local --python python3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/sshd.py: the loopback server

from tfnas_kedro.nas import load_search_spaces  # noqa: E402
from tfnas_kedro.nas.device_address import RemoteOptions  # noqa: E402
from tfnas_kedro.nas.latency import KEY_COLUMNS  # noqa: E402
from tfnas_kedro.nas.profiler import ProfilerSettings  # noqa: E402
from tfnas_kedro.nas.table_build import build_latency_table  # noqa: E402

# the demo's table (conf/base/parameters_latency.yml) in onnxruntime, with its channel block
BUILD = {"resolution": 64, "num_classes": 10, "width_step": 32, "channel_block": 4}


def _ms(table):
    return table.entries.set_index([*KEY_COLUMNS, "mid"])["ms"].sort_index()


def shape_error(table, other) -> float:
    """Median |entry ratio / median ratio - 1|: the two tables' entries against each other, with
    the common scale (each build's unit, which the calibration fits) divided out."""
    ratio = _ms(table) / _ms(other)
    return float(np.median(np.abs(ratio / ratio.median() - 1)))


def timed_build(space, settings):
    started = time.perf_counter()
    table = build_latency_table([space], settings=settings, **BUILD)
    return table, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", help="ssh://user@host[:port] or adb://SERIAL; default: this machine via sshd")
    parser.add_argument("--python", default="python3", help="the interpreter on the device")
    parser.add_argument("--ssh-option", action="append", default=[], help="extra ssh argument (repeatable)")
    args = parser.parse_args()
    space = load_search_spaces(ROOT / "conf/base/parameters_search_spaces.yml")["tfnas"]
    local_settings = ProfilerSettings(runtime="onnxruntime")
    with tempfile.TemporaryDirectory() as folder:
        server = None
        if args.device is None:
            from tests.sshd import PRIVSEP, Sshd

            made = not PRIVSEP.exists()
            PRIVSEP.mkdir(exist_ok=True)
            server = Sshd(Path(folder))
            options = server.options(cache_dir=str(Path(folder) / "cache"))
            device = server.address
        else:
            options = RemoteOptions(python=args.python, ssh_options=tuple(args.ssh_option))
            device = args.device
        try:
            local, local_s = timed_build(space, local_settings)
            remote, remote_s = timed_build(space, replace(local_settings, device=device, remote=options))
            again, again_s = timed_build(space, local_settings)
        finally:
            if server is not None:
                server.stop()
                if made:
                    PRIVSEP.rmdir()
    entries = len(local.entries) + 2
    print(f"\n{entries} entries (tfnas at {BUILD['resolution']} px, width step {BUILD['width_step']}, onnxruntime)")
    print(f"local build:  {local_s:6.1f} s, {1000 * local_s / entries:6.1f} ms per entry")
    print(f"remote build: {remote_s:6.1f} s, {1000 * remote_s / entries:6.1f} ms per entry ({device})")
    print(f"second local: {again_s:6.1f} s")
    print(f"remote / local time per entry: {remote_s / local_s:.2f}")
    print(f"reference latency, remote / local: {remote.meta.reference_ms / local.meta.reference_ms:.3f}")
    print(f"entries remote vs local, common scale divided out: median |error| {100 * shape_error(remote, local):.1f}%")
    print(f"noise floor, second local build vs first:          median |error| {100 * shape_error(again, local):.1f}%")


if __name__ == "__main__":
    main()
