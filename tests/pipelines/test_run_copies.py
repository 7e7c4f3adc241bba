"""A latency target or study run named by a run's env or --params gets its own namespaced search:
pipelines are registered from the configuration the run uses, not from conf/base."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession

from tfnas_kedro.hooks import MissingCopies
from tfnas_kedro.session import ProjectSession

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_TRACKING_URI": "", "COLUMNS": "200"}
T9 = {"latency_targets": {"t9": {"latency_ms": 9}}}


@pytest.fixture
def extra_env(kedro_project) -> str:
    """An env of the project copy that adds a latency target and a run of the lambda study."""
    folder = kedro_project / "conf" / "extra"
    folder.mkdir()
    (folder / "tracking.yml").write_text("enabled: false\n")
    extra = {"latency_targets": {"t8": {"latency_ms": 8}}, "studies": {"lambda": {"runs": {"r9": {"seed": 9}}}}}
    (folder / "parameters_extra.yml").write_text(yaml.safe_dump(extra))
    return "extra"


def _kedro_run(project: Path, *args: str) -> str:
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run([str(kedro), "run", *args], cwd=project, env=ENV, capture_output=True, text=True)
    assert result.returncode != 0, "the search cannot load its latency table in a bare project copy"
    return result.stdout + result.stderr


def _namespaces(name: str) -> set[str]:
    return {n.namespace for n in pipelines[name].nodes}


def test_a_target_or_study_run_added_by_params_or_an_env_is_registered(kedro_project, extra_env):
    with ProjectSession.create(project_path=kedro_project, runtime_params=T9) as session:
        session.load_context()
        assert {"t9", "fast"} <= _namespaces("search_targets")
    with ProjectSession.create(project_path=kedro_project, env=extra_env) as session:
        session.load_context()
        assert {"t8", "fast"} <= _namespaces("search_targets") and "t9" not in _namespaces("search_targets")
        assert "study_lambda.r9" in _namespaces("study_lambda")


def test_kedro_run_searches_a_target_named_by_params(kedro_project):
    output = _kedro_run(kedro_project, "--pipelines", "search_targets", "--params", "latency_targets.t9.latency_ms=9",
                        "--namespaces", "t9")  # fmt: skip
    # the t9 search is in the run: its first node is what fails, on the latency table a bare copy lacks
    assert "does not contain nodes" not in output
    assert "DatasetError: latency_table" in output, output[-3000:]


def test_kedro_run_with_an_env_runs_the_study_run_it_adds(kedro_project, extra_env):
    output = _kedro_run(kedro_project, "--env", extra_env, "--pipelines", "study_lambda",
                        "--namespaces", "study_lambda.r9")  # fmt: skip
    assert "study_lambda.r9.merge_settings: done" in output, output[-3000:]
    assert "DatasetError: latency_table" in output


def test_a_session_that_registered_other_names_stops_before_any_node(kedro_project, monkeypatch):
    """A plain KedroSession leaves Kedro's registration (the project's default env): t9 has no copy
    there, and the run stops naming it instead of searching the base targets only."""
    monkeypatch.chdir(kedro_project)
    with KedroSession.create(project_path=kedro_project, runtime_params=T9) as session:
        with pytest.raises(MissingCopies, match=r"pipeline search_targets: t9\).*ProjectSession.*conf/base"):
            session.run(pipeline_names=["search_targets"])
