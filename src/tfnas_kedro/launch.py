"""Running one job data-parallel: ``nproc_per_node`` processes on each of ``nnodes`` machines.

:func:`launch` runs a function in this process when the world size is 1; otherwise it starts the
workers on this machine with ``torch.distributed.launcher.api.elastic_launch`` (what ``torchrun``
uses), which meet the workers of the other machines at the rendezvous endpoint. Each worker joins
the process group, runs the function and leaves; the result is that of the lowest rank on this
machine (rank 0 on the first). Training and the search both launch through here.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from typing import Literal, TypeVar

import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, Field

from tfnas_kedro.nas.allocator import keep_freed_memory
from tfnas_kedro.runtime import resolve_device

logger = logging.getLogger(__name__)
Result = TypeVar("Result")


class DistributedConfig(BaseModel):
    """Data-parallel processes: ``nproc_per_node`` on each of ``nnodes`` machines, meeting at
    ``rdzv_endpoint`` (host:port of any one of them, reachable by all) through torch's elastic launcher."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nproc_per_node: int = Field(1, ge=1)
    nnodes: int = Field(1, ge=1)
    rdzv_endpoint: str = "localhost:29400"
    rdzv_backend: str = "c10d"
    run_id: str = "tfnas"
    backend: Literal["auto", "nccl", "gloo"] = "auto"  # auto: nccl with CUDA, gloo on CPU
    max_restarts: int = Field(0, ge=0)

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "nccl" if torch.cuda.is_available() else "gloo"


def rank_device(name: str = "auto") -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` for ``auto`` or ``cuda`` when CUDA is there
    (one GPU per process), else what ``name`` says."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto" and torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
    else:
        device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def _worker(fn: Callable[..., Result], backend: str, args: tuple) -> Result:
    """Entry point of one launched process: join the group (env:// from the launcher), run, leave."""
    rank = int(os.environ["RANK"])
    # one plain handler per worker (an imported Kedro may have configured others): rank 0 tells, others warn
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING, format=f"[rank {rank}] %(message)s", force=True
    )
    keep_freed_memory()  # a spawned process starts with glibc's defaults (see nas.allocator.keep_freed_memory)
    if backend == "gloo" and not torch.cuda.is_available():  # share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    dist.init_process_group(backend)
    try:
        return fn(*args)
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Result], args: tuple, distributed: DistributedConfig | None, what: str) -> Result:
    """``fn(*args)`` on ``distributed.world_size`` processes (in this process when that is 1).
    ``fn`` must be importable by name (a module-level function) and ``args`` picklable."""
    d = distributed or DistributedConfig()
    if d.world_size == 1:
        return fn(*args)
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    backend = d.resolved_backend()
    if backend == "nccl" and torch.cuda.device_count() < d.nproc_per_node:
        raise RuntimeError(
            f"nproc_per_node={d.nproc_per_node} with nccl needs that many GPUs; this machine has "
            f"{torch.cuda.device_count()} (set distributed.backend: gloo to run on the CPU)"
        )
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs

    # the launcher's per-run folder (error files of the workers) is removed with the run, instead of
    # one torchelastic_* folder per launch left in the system's temporary folder
    logs = tempfile.TemporaryDirectory(prefix="tfnas-launch-")
    config = LaunchConfig(
        logs_specs=DefaultLogsSpecs(log_dir=logs.name),
        min_nodes=d.nnodes,
        max_nodes=d.nnodes,
        nproc_per_node=d.nproc_per_node,
        run_id=d.run_id,
        rdzv_backend=d.rdzv_backend,
        rdzv_endpoint=d.rdzv_endpoint,
        max_restarts=d.max_restarts,
        start_method="spawn",
    )
    logger.info("launching %d x %d %s processes (%s, rendezvous %s)", d.nnodes, d.nproc_per_node, what, backend,
                d.rdzv_endpoint)  # fmt: skip
    with logs:
        results = elastic_launch(config, _worker)(fn, backend, args)
    return results[min(results)]
