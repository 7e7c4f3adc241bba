import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfnas_kedro.nas import load_search_spaces
from tfnas_kedro.nas.latency import KEY_COLUMNS, LatencyMeta, LatencyTable, table_keys

PROJECT_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def spaces():
    return load_search_spaces(PROJECT_ROOT / "conf/base/parameters_search_spaces.yml")


def free_port() -> int:
    """A TCP port nobody listens on now (rendezvous and servers started by tests)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def synthetic_table(space, resolution=224, num_classes=1000, step=8, seed=0) -> LatencyTable:
    """A table with made-up but width-monotone latencies: tests the bookkeeping, not the clock."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, mids in table_keys([space.at_resolution(resolution)], step).items():
        slope, offset = rng.uniform(0.001, 0.01), rng.uniform(0.1, 1.0)
        rows.extend((*key, m, offset + slope * m, offset + slope * m, 0.01) for m in mids)
    entries = pd.DataFrame(rows, columns=[*KEY_COLUMNS, "mid", "ms", "median_ms", "spread"])
    meta = LatencyMeta(
        device="cpu", device_name="test", batch_size=1, threads=1, resolution=resolution, num_classes=num_classes,
        spaces=[space.name], stem=space.stem.model_dump(), head=space.head.model_dump(), width_step=step,
        profiler={}, base_ms=5.0,
    )  # fmt: skip
    return LatencyTable(meta, entries)
