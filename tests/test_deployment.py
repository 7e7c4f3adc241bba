"""Deployment plugins build the pipelines without the project's session: kedro-airflow's DAG of
``search_targets`` has a task per node of every configured target, in the pipeline's order."""

import os
import re
import subprocess
import sys
from pathlib import Path

from slugify import slugify

from tests.conftest import PROJECT_ROOT
from tfnas_kedro.pipeline_registry import project_parameters, register_pipelines

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_TRACKING_URI": ""}


def test_kedro_airflow_creates_the_dag_of_search_targets_with_every_target_and_its_order(tmp_path):
    kedro = Path(sys.executable).with_name("kedro")
    command = [str(kedro), "airflow", "create", "--pipelines", "search_targets", "--target-dir", str(tmp_path)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    dag = (tmp_path / "tfnas_kedro_search_targets_dag.py").read_text()

    expected = register_pipelines(project_parameters(PROJECT_ROOT / "conf", env="base"))["search_targets"]
    tasks = set(re.findall(r'task_id="([^"]+)"', dag))
    assert tasks == {slugify(n.name) for n in expected.nodes}
    assert len(tasks) == 4 * len(project_parameters(PROJECT_ROOT / "conf", env="base")["latency_targets"])
    edges = set(re.findall(r'tasks\["([^"]+)"\] >> tasks\["([^"]+)"\]', dag))
    needed = {(slugify(parent.name), slugify(child.name)) for child, parents in expected.node_dependencies.items()
              for parent in parents}  # fmt: skip
    assert needed and needed <= edges
