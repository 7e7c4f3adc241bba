"""The Dask runner on plain pipelines: its options, an unreachable scheduler, a worker killed
mid-node. Its results on the project's pipelines: tests/pipelines/test_dask_equivalence.py."""

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import node, pipeline
from kedro_datasets.pickle import PickleDataset

from tfnas_kedro.dask_runner import ClusterUnreachable, DaskRunner

pytestmark = pytest.mark.slow


def test_a_runner_given_an_unknown_option_stops_naming_it():
    with pytest.raises(ValueError, match="DaskRunner has no option 'workerz'.*its options: scheduler, workers"):
        DaskRunner(workerz=2)
    with pytest.raises(ValueError, match="option 'workers'"):
        DaskRunner(workers=0)
    assert DaskRunner(dashboard="None").options.dashboard is None  # as --runner-params writes it
    with pytest.raises(ValueError, match="does not take is_async"):
        DaskRunner(is_async=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_stops_within_seconds_naming_its_address():
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    catalog = DataCatalog({"x": MemoryDataset(1)})
    runner = DaskRunner(scheduler=address, connect_timeout=2)
    started = time.perf_counter()
    with pytest.raises(ClusterUnreachable, match=f"no Dask scheduler answers at '{address}' within 2 s"):
        runner.run(pipeline([node(lambda x: x, "x", "y")]), catalog)
    assert time.perf_counter() - started < 15


def _checkpointed_count(folder: str, steps: int) -> list[int]:
    """A node that checkpoints after every step, as the search and training do: a rerun goes on
    from its last checkpoint. It writes its process id first, so that a test can kill it."""
    work = Path(folder)
    (work / f"pid-{os.getpid()}").touch()
    done = int((work / "checkpoint").read_text()) if (work / "checkpoint").exists() else 0
    if done:
        (work / "resumed").write_text(str(done))
    for step in range(done, steps):
        time.sleep(0.3)
        with (work / "steps").open("a") as log:
            log.write(f"{step}\n")
        (work / "checkpoint").write_text(str(step + 1))
    return list(range(steps))


def test_a_worker_killed_mid_node_is_replaced_and_its_node_resumes_from_its_checkpoint_saved_once(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = PickleDataset(filepath=str(tmp_path / "count.pkl"), version=Version(None, None))
    catalog = DataCatalog({"folder": MemoryDataset(str(work)), "steps": MemoryDataset(12), "count": out})
    pipe = pipeline([node(_checkpointed_count, ["folder", "steps"], "count", name="count")])

    def kill_once_it_has_checkpointed():
        while not (work / "checkpoint").exists() or int((work / "checkpoint").read_text() or 0) < 3:
            time.sleep(0.05)
        (pid_file,) = work.glob("pid-*")
        os.kill(int(pid_file.name.removeprefix("pid-")), signal.SIGKILL)

    killer = threading.Thread(target=kill_once_it_has_checkpointed, daemon=True)
    killer.start()
    DaskRunner(workers=2, dashboard=None).run(pipe, catalog)
    killer.join(timeout=5)
    assert len(list(work.glob("pid-*"))) == 2  # a second process ran it after the first was killed
    resumed_at = int((work / "resumed").read_text())
    assert resumed_at >= 3
    steps = [int(s) for s in (work / "steps").read_text().split()]
    assert sorted(set(steps)) == list(range(12)) and len(steps) <= 12 + 1  # nothing redone but the step cut short
    versions = list((tmp_path / "count.pkl").iterdir())
    assert len(versions) == 1 and out.load() == list(range(12))  # saved once, complete


def _square_in_a_child_process(x: int) -> int:
    """What a DataLoader with workers, or a data-parallel search, does inside a node: start processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(pow, x, 2).result()


def test_a_node_may_start_processes_of_its_own_on_a_local_worker():
    # Dask's workers are daemonic by default, and Python forbids daemonic processes children
    catalog = DataCatalog({"x": MemoryDataset(7)})
    outputs = DaskRunner(workers=1, dashboard=None).run(
        pipeline([node(_square_in_a_child_process, "x", "y", name="square")]), catalog
    )
    assert outputs["y"].load() == 49
