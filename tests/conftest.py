import os
from pathlib import Path

import pytest

from tfnas_kedro.nas import load_search_spaces

PROJECT_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def spaces():
    return load_search_spaces(PROJECT_ROOT / "conf/base/parameters_search_spaces.yml")
