"""A real OpenSSH server on 127.0.0.1 for the remote-device tests (tests/nas/test_remote.py,
tests/pipelines/test_latency.py).

The server runs with a throwaway host key and an authorized key in a temporary folder, at a free
port; the "device" is this machine, its interpreter the test's own (which has numpy and
onnxruntime). Without sshd the tests skip with the reason locally; in CI (``CI`` set) they fail,
and ``.ci/run`` installs openssh-server when it is missing.
"""

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tfnas_kedro.nas.device_address import RemoteOptions

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
PRIVSEP = Path("/run/sshd")  # sshd refuses to start without its privilege separation folder


class Sshd:
    """An OpenSSH server for one test module, and the client options that reach it."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        for name in ("host_key", "user_key", "other_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
        (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
        host_key = (folder / "host_key.pub").read_text().split()
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key[0]} {host_key[1]}\n")
        (folder / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\n"
            f"AuthorizedKeysFile {folder}/authorized_keys\nPidFile {folder}/sshd.pid\nStrictModes no\n"
            "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nLogLevel ERROR\n"
        )
        self.process = None
        self.start()

    def start(self) -> None:
        with (self.folder / "sshd.log").open("a") as log:  # its messages, e.g. of the readiness probe below
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.folder / "sshd_config")], stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 10 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    @property
    def address(self) -> str:
        return f"ssh://{getpass.getuser()}@127.0.0.1:{self.port}"

    def options(self, key: str = "user_key", **changes) -> RemoteOptions:
        ssh = ("-i", str(self.folder / key), "-o", f"UserKnownHostsFile={self.folder / 'known_hosts'}",
               "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes")  # fmt: skip
        return RemoteOptions(python=sys.executable, workdir=str(self.folder / "device"), ssh_options=ssh, **changes)


def running_sshd(tmp_path_factory):
    """The server for a test module (a generator for a module-scoped fixture)."""
    if not Path(SSHD).exists():
        if os.environ.get("CI"):
            pytest.fail("sshd is missing: .ci/run installs openssh-server for these tests")
        pytest.skip("OpenSSH's server (sshd) is not installed: apt-get install openssh-server")
    made_privsep = not PRIVSEP.exists()
    PRIVSEP.mkdir(mode=0o755, exist_ok=True)
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    if server.process.poll() is None:
        server.stop()
    if made_privsep:
        PRIVSEP.rmdir()
