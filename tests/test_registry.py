"""Pipeline registration does not depend on where Kedro is started from."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tfnas_kedro import pipeline_registry
from tfnas_kedro.pipelines import _names

# `kedro ipython` starts the `ipython` on PATH: the environment's own, as with an activated .venv
BIN = str(Path(sys.executable).parent)
ENV = {
    **os.environ,
    "KEDRO_DISABLE_TELEMETRY": "1",
    "MLFLOW_TRACKING_URI": "",
    "PATH": BIN + os.pathsep + os.environ["PATH"],
}
COUNTS = "print('COUNTS=' + json.dumps({k: len(v.nodes) for k, v in sorted(pipelines.items())}))"
BOOTSTRAP = f"""
import json
from pathlib import Path
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path({str(PROJECT_ROOT)!r}))
from kedro.framework.project import pipelines
"""
SESSION = """
from kedro.framework.project import settings
with settings.SESSION_CLASS.create({args}) as session:  # the project's session, as kedro ipython makes
    session.load_context()
"""


def _counts(output: str, label: str = "COUNTS=") -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith(label))
    return json.loads(line.removeprefix(label))


def _python(code: str, cwd: Path, env=None) -> dict[str, int]:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env or ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return _counts(result.stdout)


def _kedro(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run([str(kedro), *args], cwd=cwd, env=ENV, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def _expected_copies() -> dict[str, int]:
    """Node counts that follow from conf/base: a search is 4 nodes, a study run 5 (its settings)."""
    params = {}
    for path in (PROJECT_ROOT / "conf/base").glob("parameters*.yml"):
        params |= yaml.safe_load(path.read_text()) or {}
    studies = params["studies"]
    return {
        "search_targets": 4 * len(params["latency_targets"]),
        "study_lambda": 5 * len(studies["lambda"]["runs"]) + 1,
        "study_sampling": 5 * len(studies["sampling"]["runs"]) + 1,
        "transfer": 2 * len(params["transfer_sets"]) + 2,
    }


@pytest.fixture(scope="module")
def root_counts() -> dict[str, int]:
    return _python(BOOTSTRAP + COUNTS, PROJECT_ROOT)


def test_the_project_root_registers_one_copy_per_configured_name(root_counts):
    assert {k: root_counts[k] for k in _expected_copies()} == _expected_copies()
    assert root_counts["__default__"] > root_counts["search"] + root_counts["train"]


@pytest.mark.slow
def test_notebooks_folder_sees_the_same_pipelines_as_the_project_root(root_counts):
    notebooks = PROJECT_ROOT / "notebooks"
    # one process: the pipelines read before a session, then again inside the project's session
    both = (
        BOOTSTRAP
        + COUNTS.replace("COUNTS=", "BEFORE=")
        + SESSION.format(args=f"project_path=Path({str(PROJECT_ROOT)!r})")
    )
    result = subprocess.run(
        [sys.executable, "-c", both + COUNTS], cwd=notebooks, env=ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    before_session, session = _counts(result.stdout, "BEFORE="), _counts(result.stdout)
    ipython = _counts(_kedro(["ipython", "-c", "import json; " + COUNTS], notebooks, timeout=300).stdout)
    assert before_session == session == ipython == root_counts
    listed = _kedro(["registry", "list"], notebooks).stdout
    assert {line.removeprefix("- ").strip() for line in listed.splitlines() if line.startswith("- ")} == set(
        root_counts
    )


@pytest.mark.slow
def test_a_packaged_project_run_with_conf_source_registers_the_same_pipelines(root_counts, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    ignore = shutil.ignore_patterns("*.egg-info", "__pycache__", "*.yml")
    shutil.copytree(PROJECT_ROOT / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    shutil.copytree(
        PROJECT_ROOT / "conf",
        project / "conf",
        ignore=lambda folder, names: ignore(folder, names) if folder.endswith("local") else [],
    )
    for item in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / item, project / item)
    _kedro(["package"], project, timeout=600)
    wheel, conf = next((project / "dist").glob("*.whl")), project / "dist/conf-tfnas_kedro.tar.gz"
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)]
    subprocess.run(pip, check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"  # no project above it: only the package and the conf archive
    elsewhere.mkdir()
    env = {**ENV, "PYTHONPATH": str(site)}
    code = f"""
import json, tfnas_kedro
assert tfnas_kedro.__file__.startswith({str(site)!r}), tfnas_kedro.__file__
from kedro.framework.project import configure_project, pipelines
configure_project("tfnas_kedro")
{SESSION.format(args=f"conf_source={str(conf)!r}")}
{COUNTS}
"""
    assert _python(code, elsewhere, env) == root_counts
    run = [sys.executable, "-m", "tfnas_kedro", f"--conf-source={conf}", "--pipelines", "zoo"]
    result = subprocess.run(run, cwd=elsewhere, env={**env, "COLUMNS": "200"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert list((elsewhere / "data/07_model_output/zoo_summary.parquet").iterdir())


def test_without_a_project_or_a_run_the_registry_fails_instead_of_registering_nothing(tmp_path, monkeypatch):
    from tfnas_kedro.pipelines.search_targets.pipeline import create_pipeline

    monkeypatch.chdir(tmp_path)
    with pytest.raises(_names.ConfigurationNotFound, match="no Kedro project contains"):
        pipeline_registry.project_parameters()
    with pytest.raises(_names.ConfigurationNotFound, match=r"search_targets pipeline is built from a run's parameters"):
        create_pipeline()  # no run: no names to copy it for


def test_a_missing_or_empty_name_mapping_is_an_error():
    run = _names.RunParameters({"latency_targets": {}})
    with pytest.raises(_names.ConfigurationNotFound, match="latency_targets .* must be a non-empty mapping"):
        run.names("latency_targets")
    with pytest.raises(_names.ConfigurationNotFound, match="transfer_sets is not in the run's parameters"):
        run.names("transfer_sets")
    assert run.get("latency.runtime", "torch") == "torch"


def test_names_travel_as_an_argument_and_kedro_is_given_the_pipelines_through_its_public_calls():
    """No module state carries a run's names (a ContextVar did), and no private attribute of
    Kedro's ``pipelines`` is written: a deployment plugin that builds the pipelines without the
    session (kedro-airflow) gets the same ones."""
    sources = {p: p.read_text() for p in (PROJECT_ROOT / "src/tfnas_kedro").rglob("*.py")}
    assert not [p for p, text in sources.items() if "ContextVar" in text]
    private = re.compile(r"pipelines\._(lock|content|is_data_loaded|requested_pipelines|pipelines_module|load_data)\b")
    assert not [p for p, text in sources.items() if private.search(text)]
    run = _names.RunParameters({"latency_targets": {"a": {}, "b": {}}})
    from tfnas_kedro.pipelines.search_targets.pipeline import create_pipeline

    assert {n.namespace for n in create_pipeline(run=run).nodes} == {"a", "b"}


def test_every_pipeline_registers_without_a_warning():
    """Dotted dataset names outside their namespace, node functions Kedro cannot read type hints
    from: each would print a warning on every run."""
    code = BOOTSTRAP + "\n".join(
        [
            "import warnings, logging",
            "warnings.simplefilter('error')",
            "from kedro.validation.type_extractor import TypeExtractor",
            "records = []",
            "logging.getLogger('kedro.validation').addHandler(type('H', (logging.Handler,), {'emit': lambda s, r: records.append(r)})())",  # noqa: E501
            "TypeExtractor(dict(pipelines)).extract_types_from_pipelines()",
            "assert not [r.getMessage() for r in records if r.levelno >= logging.WARNING], records",
            COUNTS,
        ]
    )
    assert _python(code, PROJECT_ROOT)


def test_a_relative_parameter_path_is_taken_from_the_project_folder(tmp_path, monkeypatch):
    from tfnas_kedro import project

    monkeypatch.chdir(PROJECT_ROOT / "notebooks")
    assert project.resolve("data/06_models/x") == str(PROJECT_ROOT / "data/06_models/x")
    monkeypatch.chdir(tmp_path)  # outside any project: the working directory, as Kedro does
    assert project.resolve("data/x") == str(tmp_path.resolve() / "data/x")
    with project.running_in(tmp_path / "p"):  # a running session's project wins
        assert project.resolve("ckpt") == str(tmp_path / "p" / "ckpt") and project.resolve("/abs") == "/abs"
    assert project.resolve("data/x") == str(tmp_path.resolve() / "data/x")  # until its run ends


def test_no_pipelines_nodes_import_another_pipeline():
    """A pipeline's nodes call libraries (nas, params, reporting ...), as in Kedro's starters:
    what two pipelines share lives in a library, not in one of them."""
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}: {line.strip()}"
        for path in sorted((PROJECT_ROOT / "src/tfnas_kedro/pipelines").glob("*/nodes.py"))
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("from tfnas_kedro.pipelines", "import tfnas_kedro.pipelines"))
    ]
    assert offenders == []
