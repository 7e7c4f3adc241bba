"""A stand-in for Android's ``adb`` that runs the "device" side on this machine, for the tests of
the adb transport (tests/nas/test_remote.py). It keeps the behaviour of adb that the transport has
to cope with, as adb's documentation and source describe it:

- ``adb -s SERIAL shell COMMAND``: the device runs COMMAND through ``sh -c`` from ``/``; with the
  shell protocol (Android 7+) stdout, stderr and the exit status come back.
- ``adb -s SERIAL exec-in COMMAND``: the host's stdin goes to COMMAND; its stdout comes back, its
  stderr and its exit status do not (a raw stream: adb exits 0).
- an unknown serial: ``adb: device 'SERIAL' not found`` on stderr, exit status 1.

The serial the stand-in answers to is ``$FAKE_ADB_SERIAL``."""

import os
import subprocess
import sys


def main(args: list[str]) -> int:
    if len(args) != 4 or args[0] != "-s" or args[2] not in ("shell", "exec-in"):
        print(f"fake adb: unsupported arguments {args}", file=sys.stderr)
        return 2
    serial, service, command = args[1], args[2], args[3]
    if serial != os.environ.get("FAKE_ADB_SERIAL"):
        print(f"adb: device '{serial}' not found", file=sys.stderr)
        return 1
    if service == "shell":
        return subprocess.run(["sh", "-c", command], cwd="/", stdin=subprocess.DEVNULL).returncode
    subprocess.run(["sh", "-c", command], cwd="/", stderr=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
