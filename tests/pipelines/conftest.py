import shutil
from pathlib import Path

import pytest
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT
from tests.data.conftest import image_tree  # noqa: F401  (shared fixture)
from tfnas_kedro.session import ProjectSession


@pytest.fixture
def kedro_project(tmp_path) -> Path:
    """A copy of the project's configuration with a data folder of its own (only the reference tables)."""
    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    # tracking has its own tests (tests/test_tracking.py); the others need no MLflow store
    (tmp_path / "conf" / "local" / "tracking.yml").write_text("enabled: false\n")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "data").mkdir()
    shutil.copytree(PROJECT_ROOT / "data/01_raw/reference", tmp_path / "data/01_raw/reference")  # committed fixtures
    (tmp_path / "src").mkdir()  # bootstrap_project wants it; the package itself is installed
    bootstrap_project(tmp_path)
    return tmp_path


@pytest.fixture
def run_pipeline(kedro_project):
    def run(name: str, params: dict | None = None, env: str | None = None) -> dict:
        # the project's session (settings.SESSION_CLASS, as `kedro run`): pipelines from this
        # project copy's configuration, checkpoints in its folder
        with ProjectSession.create(project_path=kedro_project, runtime_params=params, env=env) as session:
            return session.run(pipeline_name=name)

    return run


def latest_version(root: Path, relative: str) -> Path:
    """The newest versioned file ``root/relative/<version>/<name>``."""
    versions = sorted((root / relative).iterdir())
    assert versions, f"no version of {relative}"
    return versions[-1] / Path(relative).name


def load_latest(root: Path, relative: str, dataset_cls):
    """The newest version of ``relative`` loaded with the catalog dataset class that wrote it."""
    return dataset_cls(filepath=str(latest_version(root, relative))).load()
