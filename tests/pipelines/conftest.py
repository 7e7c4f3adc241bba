import contextlib
import shutil
from pathlib import Path

import pytest
from kedro.framework.project import configure_project
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.conftest import PROJECT_ROOT
from tests.data.conftest import image_tree  # noqa: F401  (shared fixture)
from tfnas_kedro.pipeline_registry import project_parameters, register_pipelines
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
        # project copy's configuration, checkpoints in its folder; run from the copy, as kedro-viz's
        # hooks write their statistics to the project that contains the working directory
        with contextlib.chdir(kedro_project):
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


def _parameter_entries(parameters: dict, prefix: str = "params:") -> dict:
    """``params:a`` and ``params:a.b`` for every nested key, as Kedro's catalog holds them."""
    entries = {}
    for key, value in parameters.items():
        entries[prefix + key] = value
        if isinstance(value, dict):
            entries |= _parameter_entries(value, f"{prefix}{key}.")
    return entries


def run_in_memory(name: str, inputs: dict, params: dict | None = None) -> dict:
    """Run the registered pipeline ``name`` on an in-memory catalog: ``inputs`` by dataset name and
    the project's parameters with ``params`` merged in, as ``--params`` does. Nothing is written:
    for tests of a pipeline's wiring and its errors, which need no project on disk."""
    configure_project("tfnas_kedro")  # the settings and pipelines a session of the project uses
    parameters = project_parameters(PROJECT_ROOT / "conf", env="base", runtime_params=params)
    catalog = DataCatalog({key: MemoryDataset(value) for key, value in inputs.items()})
    for key, value in _parameter_entries(parameters).items():
        catalog[key] = MemoryDataset(value, copy_mode="deepcopy")
    pipeline = register_pipelines(parameters)[name]
    SequentialRunner().run(pipeline, catalog)
    return {key: catalog.load(key) for key in pipeline.outputs()}
