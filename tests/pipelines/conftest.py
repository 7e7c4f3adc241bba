import contextlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import configure_project
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.conftest import PROJECT_ROOT
from tests.data.conftest import image_tree  # noqa: F401  (shared fixture)
from tfnas_kedro.pipeline_registry import project_parameters, register_pipelines
from tfnas_kedro.session import ProjectSession


def _new_project(root: Path) -> Path:
    """A copy of the project's configuration at ``root``, with a data folder of its own (only the
    reference tables)."""
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    # tracking has its own tests (tests/test_tracking.py); the others need no MLflow store
    (root / "conf" / "local" / "tracking.yml").write_text("enabled: false\n")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "data").mkdir()
    shutil.copytree(PROJECT_ROOT / "data/01_raw/reference", root / "data/01_raw/reference")  # committed fixtures
    (root / "src").mkdir()  # bootstrap_project wants it; the package itself is installed
    bootstrap_project(root)
    return root


def only_targets(project: Path, targets: dict) -> None:
    """Make ``targets`` the project's whole list of latency targets. Runtime parameters are merged
    softly (settings.py), so ``--params`` adds targets to the demo's five rather than replacing them,
    and a test that passes two would run seven searches."""
    path = project / "conf" / "base" / "parameters_search.yml"
    parameters = yaml.safe_load(path.read_text())
    parameters["latency_targets"] = targets
    path.write_text(yaml.safe_dump(parameters, sort_keys=False))


def _run(project: Path, name: str | list[str], params: dict | None = None, env: str | None = None, runner=None) -> dict:
    # the project's session (settings.SESSION_CLASS, as `kedro run`): pipelines from this
    # project copy's configuration, checkpoints in its folder; run from the copy, as kedro-viz's
    # hooks write their statistics to the project that contains the working directory
    with contextlib.chdir(project):
        with ProjectSession.create(project_path=project, runtime_params=params, env=env) as session:
            return session.run(pipeline_names=[name] if isinstance(name, str) else name, runner=runner)


@pytest.fixture
def kedro_project(tmp_path) -> Path:
    """A copy of the project's configuration with a data folder of its own (only the reference tables)."""
    return _new_project(tmp_path)


@pytest.fixture
def run_pipeline(kedro_project):
    def run(name: str, params: dict | None = None, env: str | None = None) -> dict:
        return _run(kedro_project, name, params, env)

    return run


@pytest.fixture(scope="session")
def _upstream_data() -> dict[str, Path]:
    return {}


@pytest.fixture
def run_upstream(kedro_project, tmp_path_factory, _upstream_data):
    """Give this test's project the outputs of the pipelines that only feed the one under test
    (data selection, the latency table): run once per test process for each set of parameters, in
    a project of their own, then copied in. Those pipelines have tests of their own; the tests
    downstream read their real outputs without timing a table again each (about 10 s)."""

    def run(names: tuple[str, ...], params: dict) -> None:
        key = json.dumps([names, params], sort_keys=True, default=str)
        if key not in _upstream_data:
            project = _new_project(tmp_path_factory.mktemp("upstream"))
            for name in names:
                _run(project, name, params)
            _upstream_data[key] = project / "data"
        shutil.copytree(_upstream_data[key], kedro_project / "data", dirs_exist_ok=True)

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
