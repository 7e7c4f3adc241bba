import os
import subprocess
import sys

import pandas as pd
import pytest

from tfnas_kedro.datasets import ArchitectureDataset
from tfnas_kedro.nas import ConfigError, count_macs, zoo_arch, zoo_names

from .conftest import latest_version


def test_zoo_pipeline_writes_versioned_table_and_descriptions(kedro_project, run_pipeline):
    run_pipeline("zoo")
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/zoo_summary.parquet"))
    assert list(table["name"]) == zoo_names()
    assert set(table.columns) >= {"name", "macs_m", "params_m", "resolution", "num_classes"}
    a = table.set_index("name").loc["TF-NAS-A"]
    assert a["macs_m"] == pytest.approx(count_macs(zoo_arch("TF-NAS-A")) / 1e6)
    assert (table["resolution"] == 224).all() and (table["num_classes"] == 1000).all()
    path = latest_version(kedro_project, "data/06_models/zoo_architectures.json")
    assert ArchitectureDataset(filepath=str(path)).load()["TF-NAS-D"] == zoo_arch("TF-NAS-D")


def test_nested_override_keeps_sibling_keys(kedro_project, run_pipeline):
    run_pipeline("zoo", params={"zoo": {"models": ["TF-NAS-A", "TF-NAS-D"], "num_classes": 10}})
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/zoo_summary.parquet"))
    assert list(table["name"]) == ["TF-NAS-A", "TF-NAS-D"]
    assert (table["num_classes"] == 10).all() and (table["resolution"] == 224).all()


def test_env_overrides_one_nested_key_and_keeps_the_rest(kedro_project, run_pipeline):
    # an env (like conf/paper) that changes one key of a group must not wipe the group's other keys
    base = kedro_project / "conf" / "base" / "parameters_zoo.yml"
    base.write_text(base.read_text().replace("resolution: 224", "resolution: 96"))
    (kedro_project / "conf" / "small").mkdir()
    (kedro_project / "conf" / "small" / "parameters_zoo.yml").write_text("zoo:\n  num_classes: 10\n")
    run_pipeline("zoo", env="small")
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/zoo_summary.parquet"))
    assert (table["num_classes"] == 10).all() and (table["resolution"] == 96).all() and len(table) == 12


def test_misspelt_parameter_names_the_key(run_pipeline):
    with pytest.raises(ConfigError, match=r"params:zoo\.resoluton"):
        run_pipeline("zoo", params={"zoo": {"resoluton": 64}})


def test_kedro_run_from_the_command_line(kedro_project):
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    kedro = [sys.executable, "-m", "kedro"]
    result = subprocess.run(
        [*kedro, "run", "--pipeline", "zoo", "--params", "zoo.resolution=64"],
        cwd=kedro_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log = result.stdout + result.stderr
    assert "[1/2] collect_zoo_architectures" in log and "done in" in log  # progress hook
    table = pd.read_parquet(latest_version(kedro_project, "data/07_model_output/zoo_summary.parquet"))
    assert (table["resolution"] == 64).all() and len(table) == 12  # models: all survived the override


def _kedro_run(project, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "kedro", "run", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_plain_kedro_run_prints_no_warning(kedro_project):
    (kedro_project / "conf/local/tracking.yml").unlink()  # tracked, as a user's run is
    result = _kedro_run(kedro_project, "--pipelines", "zoo")
    log = result.stdout + result.stderr
    assert result.returncode == 0 and "Pipeline execution completed" in log, log[-3000:]
    assert "warning" not in log.lower(), log[-3000:]
    assert (kedro_project / "data/09_tracking/mlflow.db").exists()


@pytest.mark.slow
def test_a_misspelt_parameter_stops_the_run_before_any_node(kedro_project):
    result = _kedro_run(kedro_project, "--pipelines", "zoo", "--params", "zoo.resolutoin=64")
    log = result.stdout + result.stderr
    assert result.returncode != 0 and "params:zoo.resolutoin: Extra inputs are not permitted" in log, log[-3000:]
    assert "collect_zoo_architectures: started" not in log
    assert not (kedro_project / "data/07_model_output").exists()
