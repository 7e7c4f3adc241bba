import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def _free_port() -> int:
    # kedro-viz refuses ports above 49151, which the OS's ephemeral range often hands out
    for port in random.Random().sample(range(20000, 32000), 50):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


@pytest.mark.slow
def test_kedro_viz_serves_the_registered_pipelines(kedro_project):
    port = _free_port()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kedro", "viz", "run", "--host", "127.0.0.1", "--port", str(port), "--no-browser"],
        cwd=kedro_project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, graph = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=5) as response:
                    graph = json.load(response)
                break
            except OSError:
                time.sleep(1)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode(errors="replace")
    assert graph is not None, f"kedro viz did not answer on /api/main:\n{output[-4000:]}"
    pipelines = {p["id"] for p in graph["pipelines"]}
    assert {"__default__", "zoo"} <= pipelines
    node_names = {n["name"] for n in graph["nodes"] if n["type"] == "task"}
    assert {"collect_zoo_architectures", "summarise_zoo_architectures"} <= node_names
    datasets = {n["name"]: n for n in graph["nodes"] if n["type"] == "data"}
    assert {"zoo_architectures", "zoo_summary"} <= set(datasets)
    assert datasets["zoo_summary"]["layer"] == "model_output" and datasets["raw_images"]["layer"] == "raw"
    assert {"search", "search_targets", "latency", "data_selection"} <= pipelines


@pytest.mark.slow
def test_kedro_viz_build_writes_a_static_site_with_namespaces_layers_and_previews(kedro_project, run_pipeline):
    run_pipeline("zoo")  # something to preview
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    command = [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"]
    result = subprocess.run(command, cwd=kedro_project, env=env, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stdout.decode()[-3000:] + result.stderr.decode()[-3000:]
    build = kedro_project / "build"
    assert (build / "index.html").exists()
    graph = json.loads((build / "api" / "main").read_text())
    modular = {n["name"] for n in graph["nodes"] if n["type"] == "modularPipeline"}
    assert {"transfer", "transfer.cifar10"} <= modular  # namespaces collapse into one node each
    layers = graph["layers"]
    assert layers.index("raw") < layers.index("model_input") < layers.index("models") < layers.index("reporting")
    pipelines = {p["id"] for p in graph["pipelines"]}
    assert {"train", "transfer", "report", "study_lambda", "study_sampling"} <= pipelines
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    table = json.loads((build / "api" / "nodes" / ids["zoo_summary"]).read_text())
    assert table["preview_type"] == "TablePreview" and "TF-NAS-A" in json.dumps(table["preview"])
