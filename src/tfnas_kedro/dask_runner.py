"""``kedro run --runner tfnas_kedro.dask_runner.DaskRunner``: the nodes that do not depend on each
other run at once, each on a worker of a Dask cluster (docs/distributed.md, "Several GPUs and
machines").

Where the work runs: a local cluster by default (one worker per core, one thread each; one worker
per GPU through dask-cuda when CUDA is present), or the running scheduler at ``scheduler``
(``--runner-params scheduler=tcp://host:8786``) or ``DASK_SCHEDULER_ADDRESS``.

What stays as in Kedro's sequential runner: this process loads every node's inputs through the
catalog, calls every hook (MLflow records every node) and saves every output once, with the run's
single save version; a worker only runs the node's function, seeded as ``SeedHooks`` seeds it in
one process. A worker that dies mid-node is replaced by Dask and its node runs again on another
worker, which resumes from the node's own checkpoint (search, train); nothing was saved for the
attempt that died.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections import Counter
from contextlib import ExitStack, contextmanager
from itertools import chain
from typing import Any

from kedro.runner import AbstractRunner
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

logger = logging.getLogger(__name__)


class ClusterUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given."""


class DaskOptions(BaseModel):
    """``--runner-params`` of :class:`DaskRunner`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheduler: str | None = None  # a running scheduler's address; None: DASK_SCHEDULER_ADDRESS, else a local cluster
    workers: int | None = Field(None, ge=1)  # a local cluster's workers; None: one per GPU with CUDA, else per core
    threads_per_worker: int = Field(1, ge=1)  # also torch's threads in each worker
    memory_limit: str = (
        "auto"  # per local worker, as Dask reads it ("auto": the machine's memory shared out; "0": none)
    )
    dashboard: str | None = ":8787"  # a local cluster's dashboard address; None: no dashboard
    connect_timeout: float = Field(10.0, gt=0)  # seconds to reach a running scheduler

    @field_validator("dashboard", mode="before")
    @classmethod
    def _off(cls, value):
        """``dashboard=None`` on the command line arrives as the text "None"."""
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "off") else value


class DaskRunner(AbstractRunner):
    """Runs a pipeline's nodes on a Dask cluster, each as soon as its inputs exist."""

    def __init__(self, is_async: bool = False, **options: Any):
        if is_async:  # nothing a user sets is ignored
            raise ValueError(
                "DaskRunner does not take is_async: it loads and saves in this process while the workers run nodes"
            )
        super().__init__(is_async=False)
        known = list(DaskOptions.model_fields)
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(
                f"DaskRunner has no option {unknown[0]!r} (--runner-params); its options: {', '.join(known)}"
            )
        try:
            self.options = DaskOptions(**options)
        except ValidationError as error:
            first = error.errors()[0]
            raise ValueError(f"DaskRunner option {first['loc'][0]!r}: {first['msg']}") from None

    def _get_executor(self, max_workers: int) -> None:  # the cluster is the executor (see _run)
        return None

    def _run(self, pipeline, catalog, hook_manager=None, run_id=None) -> None:
        with connected(self.options) as client:
            seed = int(catalog.load("parameters").get("seed", 0)) if "parameters" in catalog else 0
            schedule = NodeSchedule(pipeline, catalog, hook_manager, run_id, client, seed, self.options)
            try:
                schedule.run()
            except Exception:
                self._suggest_resume_scenario(pipeline, schedule.done, catalog)
                raise


@contextmanager
def connected(options: DaskOptions):
    """A client of the scheduler at ``options.scheduler`` (or ``DASK_SCHEDULER_ADDRESS``), or of a
    local cluster started here and closed afterwards; logs which, with its dashboard."""
    import dask
    from distributed import Client

    address = options.scheduler or dask.config.get("scheduler-address", None)
    with ExitStack() as stack:
        if address:
            client, where = _remote_client(address, options), f"scheduler {address}"
        else:
            # the workers' scratch space in a folder of the run's own, gone with it (Dask's default
            # is a shared /tmp/dask-scratch-space that stays); and nodes start processes of their own
            # (DataLoader workers, a data-parallel search's ranks), which Python forbids daemonic ones
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="tfnas-dask-"))
            stack.enter_context(dask.config.set({"distributed.worker.daemon": False, "temporary-directory": scratch}))
            cluster = stack.enter_context(local_cluster(options))
            client, where = stack.enter_context(Client(cluster)), type(cluster).__name__
        workers = list(client.scheduler_info()["workers"].values())
        threads = sorted({w.get("nthreads") for w in workers} - {None})
        dashboard = client.dashboard_link if options.dashboard or address else "off"
        logger.info(
            "Dask: %s with %d workers (threads each: %s); dashboard %s", where, len(workers), threads, dashboard
        )
        try:
            yield client
        finally:
            if address:
                client.close()


def _remote_client(address: str, options: DaskOptions):
    from distributed import Client

    try:
        return Client(address, timeout=f"{options.connect_timeout}s")
    except (OSError, TimeoutError) as error:
        raise ClusterUnreachable(
            f"no Dask scheduler answers at {address!r} within {options.connect_timeout:g} s ({error}); start "
            "one (`dask scheduler`), correct the address, or leave scheduler and DASK_SCHEDULER_ADDRESS unset "
            "for a cluster on this machine"
        ) from None


def local_cluster(options: DaskOptions):
    """One worker per GPU (dask-cuda) when CUDA is present, else one per core, single-threaded."""
    import torch
    from distributed import LocalCluster

    common = {"threads_per_worker": options.threads_per_worker, "dashboard_address": options.dashboard,
              "memory_limit": options.memory_limit}  # fmt: skip
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus:
        try:
            from dask_cuda import LocalCUDACluster

            return LocalCUDACluster(n_workers=options.workers or gpus, **common)
        except ImportError:
            logger.warning(
                "CUDA is present but dask-cuda is not installed (pip install -e '.[dask-cuda]'): one worker per "
                "core, each seeing every GPU"
            )
    return LocalCluster(n_workers=options.workers or os.cpu_count() or 1, processes=True, **common)


def run_on_worker(node, inputs: dict[str, Any], seed: int, threads: int) -> dict[str, Any]:
    """What a worker does for one node: its function on its inputs, seeded as ``SeedHooks`` seeds a
    node in one process, with ``threads`` torch threads."""
    import torch

    from tfnas_kedro.hooks import node_seed
    from tfnas_kedro.nas.allocator import keep_freed_memory
    from tfnas_kedro.nas.seeding import seed_everything

    torch.set_num_threads(threads)
    keep_freed_memory()
    project_logger = logging.getLogger("tfnas_kedro")
    if not project_logger.handlers and not logging.getLogger().handlers:  # a worker: its log to its stderr
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [worker %(process)d] %(message)s"))
        project_logger.addHandler(handler)
        project_logger.setLevel(logging.INFO)
    seed_everything(node_seed(seed, node.name))
    return node.run(inputs)


class NodeSchedule:
    """Submits each node once its inputs exist, and finishes it (hooks, saves) when it returns."""

    def __init__(self, pipeline, catalog, hook_manager, run_id, client, seed: int, options: DaskOptions):
        self.pipeline, self.catalog, self.hooks, self.run_id = pipeline, catalog, hook_manager.hook, run_id
        self.client, self.seed, self.threads = client, seed, options.threads_per_worker
        self.done: set = set()
        self._inputs: dict = {}  # per running node, what it was given (for the after/error hooks)

    def run(self) -> None:
        from distributed import wait

        nodes, dependencies = self.pipeline.nodes, self.pipeline.node_dependencies
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
        waiting, running = list(nodes), {}
        while waiting or running:
            ready = [n for n in waiting if dependencies[n] <= self.done]
            for node in ready:
                waiting.remove(node)
                running[self._submit(node)] = node
            if ready:
                logger.info("Dask: running %s; %d waiting", ", ".join(sorted(n.name for n in running.values())),
                            len(waiting))  # fmt: skip
            finished, _ = wait(list(running), return_when="FIRST_COMPLETED")
            for future in sorted(finished, key=lambda f: nodes.index(running[f])):
                node = running.pop(future)
                self._finish(node, future)
                self.done.add(node)
                self._release_datasets(node, self.catalog, load_counts, self.pipeline)
                logger.info("Dask: completed %s (%d of %d)", node.name, len(self.done), len(nodes))

    def _submit(self, node):
        inputs = {}
        for name in node.inputs:
            self.hooks.before_dataset_loaded(dataset_name=name, node=node)
            inputs[name] = self.catalog.load(name)
            self.hooks.after_dataset_loaded(dataset_name=name, data=inputs[name], node=node)
        for changed in self.hooks.before_node_run(
            node=node, catalog=self.catalog, inputs=dict(inputs), is_async=False, run_id=self.run_id
        ) or []:  # fmt: skip
            inputs.update(changed or {})
        self._inputs[node] = inputs
        # the inputs travel inside the task, which the scheduler keeps until it is done: a worker
        # that dies takes scattered data with it, and the node could not run again elsewhere
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*large graph.*")
            return self.client.submit(run_on_worker, node, inputs, self.seed, self.threads, pure=False,
                                      key=f"{node.name}-{os.urandom(4).hex()}")  # fmt: skip

    def _finish(self, node, future) -> None:
        inputs = self._inputs.pop(node)
        try:
            outputs = future.result()
        except Exception as error:
            self.hooks.on_node_error(
                error=error, node=node, catalog=self.catalog, inputs=inputs, is_async=False, run_id=self.run_id
            )
            raise
        self.hooks.after_node_run(
            node=node, catalog=self.catalog, inputs=inputs, outputs=outputs, is_async=False, run_id=self.run_id
        )
        for name, data in outputs.items():
            self.hooks.before_dataset_saved(dataset_name=name, data=data, node=node)
            self.catalog.save(name, data)
            self.hooks.after_dataset_saved(dataset_name=name, data=data, node=node)

    _release_datasets = staticmethod(AbstractRunner._release_datasets)
