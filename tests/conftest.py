import getpass
import os
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.latency import KEY_COLUMNS, LatencyMeta, LatencyTable
from tfnas_kedro.nas.table_build import table_keys

PROJECT_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
# the project's logging without its info.log: tests leave no log file in the project
os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(Path(__file__).parent / "fixtures" / "logging.yml"))

# Tests leave the temporary folder as they found it. torch's compiler cache (torch.export, which
# the ONNX exporter uses) goes to a folder of this session instead of /tmp/torchinductor_<user>,
# and pytest's own root /tmp/pytest-of-<user>, which stays behind empty once the folders of passed
# tests are removed, is removed too when this session created it.
_PYTEST_ROOT = Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"
_SESSION: dict = {}


def pytest_configure(config):
    _SESSION["pytest_root_existed"] = _PYTEST_ROOT.exists()
    _SESSION["tmp"] = Path(tempfile.mkdtemp(prefix="tfnas-tests-"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_SESSION["tmp"] / "torchinductor"))


@pytest.hookimpl(trylast=True)  # after pytest has removed the folders of passed tests
def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION.pop("tmp"), ignore_errors=True)
    if not _SESSION["pytest_root_existed"] and _PYTEST_ROOT.is_dir() and not any(_PYTEST_ROOT.iterdir()):
        _PYTEST_ROOT.rmdir()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """A test that asserts a time runs alone (`make test` runs ``-m serial`` after the parallel
    part), and the tests of one sshd run on one worker: the server's privilege-separation folder
    (/run/sshd) is shared by every sshd on the machine, and a fixture creates and removes it."""
    for item in items:
        if item.get_closest_marker("timing"):
            item.add_marker(pytest.mark.serial)
        if "sshd" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("sshd"))
    # the modules with slow tests first, each kept whole (its module fixtures are set up once):
    # pytest-xdist hands tests out in this order, and a 45 s test handed out last kept one worker
    # busy while the other stood idle
    slow_modules = {item.module for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module not in slow_modules)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


SMALL_SPACE_FILE = Path(__file__).parent / "fixtures" / "small_space.yml"


@pytest.fixture(scope="session")
def spaces():
    return load_search_spaces(PROJECT_ROOT / "conf/base/parameters_search_spaces.yml")


@pytest.fixture(scope="session")
def small_space():
    """The tests' search space (tests/fixtures/small_space.yml): searches in tests run in it."""
    return load_search_spaces(SMALL_SPACE_FILE)["small"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real OpenSSH server on 127.0.0.1 that reaches this machine as a remote device (tests/sshd.py)."""
    from tests.sshd import running_sshd

    yield from running_sshd(tmp_path_factory)


def free_port() -> int:
    """A TCP port nobody listens on now (rendezvous and servers started by tests)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def synthetic_table(space, resolution=224, num_classes=1000, step=8, seed=0, slopes=(0.001, 0.01)) -> LatencyTable:
    """A table with made-up but width-monotone latencies: tests the bookkeeping, not the clock.
    ``slopes`` bounds the ms per channel of width (narrow spaces want steeper ones for widths to
    move a network's latency as much as they do in the paper's space)."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, mids in table_keys([space.at_resolution(resolution)], step).items():
        slope, offset = rng.uniform(*slopes), rng.uniform(0.1, 1.0)
        rows.extend((*key, m, offset + slope * m, offset + slope * m, 0.01) for m in mids)
    entries = pd.DataFrame(rows, columns=[*KEY_COLUMNS, "mid", "ms", "median_ms", "spread"])
    meta = LatencyMeta(
        device="cpu", device_name="test", batch_size=1, threads=1, resolution=resolution, num_classes=num_classes,
        spaces=[space.name], stem=space.stem.model_dump(), head=space.head.model_dump(), width_step=step,
        profiler={}, base_ms=5.0,
    )  # fmt: skip
    return LatencyTable(meta, entries)
