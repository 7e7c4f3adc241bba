"""One training job, run in this process or as data-parallel workers through torch's elastic launcher.

A :class:`TrainingJob` carries everything a worker needs (picklable): the architecture, the recipe,
the data sets and where checkpoints go. :func:`launch_training` runs it in-process when the world
size is 1; otherwise it starts ``nproc_per_node`` workers on this machine with
``torch.distributed.launcher.api.elastic_launch`` (what ``torchrun`` uses), which meet the workers of
the other ``nnodes - 1`` machines at the rendezvous endpoint. Every rank ends with the same weights
(DDP keeps them identical), so any rank's final state is the result; only rank 0 writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from tfnas_kedro.nas import ArchDescription, build_network
from tfnas_kedro.runtime import keep_freed_memory, resolve_device

from .config import DistributedConfig, TrainConfig
from .trainer import Trainer

logger = logging.getLogger(__name__)


@dataclass
class TrainingJob:
    arch: ArchDescription
    config: TrainConfig
    train_data: Dataset
    val_data: Dataset
    device: str = "auto"
    checkpoint_dir: str | None = None
    resume: bool = True
    identity: dict = field(default_factory=dict)  # what else the run depends on (the data), checked on resume
    progress: bool = True
    initial_weights: dict | None = None  # start from these (fine-tuning); entries of another shape are skipped
    trainable: str = "all"  # all | head (head conv and classifier) | classifier


TRAINABLE = {"all": None, "head": ("head.", "classifier."), "classifier": ("classifier.",)}


def prepare_model(arch: ArchDescription, job: TrainingJob) -> torch.nn.Module:
    """The job's network: freshly initialised (seeded), then ``initial_weights`` where they fit
    (a new classifier keeps its fresh weights), then everything outside ``trainable`` frozen."""
    if job.trainable not in TRAINABLE:
        raise ValueError(f"trainable must be one of {sorted(TRAINABLE)}, got {job.trainable!r}")
    torch.manual_seed(job.config.seed)  # the same initial weights on every rank
    model = build_network(arch, drop_connect_rate=job.config.drop_connect)
    if job.initial_weights is not None:
        own = model.state_dict()
        fitting = {k: v for k, v in job.initial_weights.items() if k in own and own[k].shape == v.shape}
        skipped = sorted(set(own) - set(fitting))
        if len(fitting) < len(own) // 2:
            raise ValueError(f"initial weights fit only {len(fitting)} of {len(own)} tensors of {arch.name!r}")
        model.load_state_dict(fitting, strict=False)
        logger.info("started from given weights; freshly initialised: %s", ", ".join(skipped) or "nothing")
    prefixes = TRAINABLE[job.trainable]
    if prefixes is not None:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(prefixes))
    return model


def _device(name: str) -> torch.device:
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto" and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def run_job(job: TrainingJob) -> dict:
    """Train ``job`` in this process (one rank of a group when ``torch.distributed`` is initialised);
    returns the final checkpoint dict with tensors on the CPU."""
    arch = job.arch
    if job.config.dropout is not None:
        arch = arch.model_copy(update={"dropout": job.config.dropout})
    model = prepare_model(arch, job)
    identity = {"architecture": arch.model_dump(mode="json", by_alias=True), **job.identity}
    trainer = Trainer(model, job.config, _device(job.device), job.checkpoint_dir, identity)
    if job.resume:
        trainer.resume()
    trainer.fit(job.train_data, job.val_data, progress=job.progress)
    return _to_cpu(trainer.state_dict())


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _worker(job: TrainingJob, backend: str) -> dict:
    """Entry point of one launched worker: join the group (env:// from the launcher), train, leave."""
    rank = int(os.environ["RANK"])
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, format=f"[rank {rank}] %(message)s")
    keep_freed_memory()  # a spawned process starts with glibc's defaults (see runtime.keep_freed_memory)
    if backend == "gloo" and not torch.cuda.is_available():  # share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    dist.init_process_group(backend)
    try:
        return run_job(job)
    finally:
        dist.destroy_process_group()


def launch_training(job: TrainingJob, distributed: DistributedConfig | None = None) -> dict:
    """Run ``job`` on ``distributed.world_size`` processes (in-process when that is 1)."""
    d = distributed or DistributedConfig()
    if d.world_size == 1:
        return run_job(job)
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    backend = d.backend if d.backend != "auto" else ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl" and torch.cuda.device_count() < d.nproc_per_node:
        raise RuntimeError(
            f"nproc_per_node={d.nproc_per_node} with nccl needs that many GPUs; this machine has "
            f"{torch.cuda.device_count()} (use backend: gloo to train on the CPU)"
        )
    config = LaunchConfig(
        min_nodes=d.nnodes,
        max_nodes=d.nnodes,
        nproc_per_node=d.nproc_per_node,
        run_id=d.run_id,
        rdzv_backend=d.rdzv_backend,
        rdzv_endpoint=d.rdzv_endpoint,
        max_restarts=d.max_restarts,
        start_method="spawn",
    )
    logger.info(
        "launching %d x %d training processes (%s, rendezvous %s)", d.nnodes, d.nproc_per_node, backend, d.rdzv_endpoint
    )
    results = elastic_launch(config, _worker)(job, backend)
    return results[min(results)]
