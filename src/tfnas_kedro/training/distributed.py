"""One training job, run in this process or as data-parallel workers through torch's elastic launcher.

A :class:`TrainingJob` carries everything a worker needs (picklable): the architecture, the recipe,
the data sets and where checkpoints go. :func:`launch_training` runs it in-process when the world
size is 1; otherwise as data-parallel workers (:func:`tfnas_kedro.launch.launch`). Every rank ends with the same weights
(DDP keeps them identical), so any rank's final state is the result; only rank 0 writes files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from tfnas_kedro.launch import DistributedConfig, launch, rank_device
from tfnas_kedro.nas import ArchDescription, build_network
from tfnas_kedro.nas.checkpoints import to_cpu

from .config import TrainConfig
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
    model = build_network(
        arch, drop_connect_rate=job.config.drop_connect, zero_init_residual=job.config.zero_init_residual
    )
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


def run_job(job: TrainingJob) -> dict:
    """Train ``job`` in this process (one rank of a group when ``torch.distributed`` is initialised);
    returns the trained model (weights, EMA, identity, history; no optimiser) on the CPU."""
    arch = job.arch
    if job.config.dropout is not None:
        arch = arch.model_copy(update={"dropout": job.config.dropout})
    model = prepare_model(arch, job)
    identity = {"architecture": arch.model_dump(mode="json", by_alias=True), **job.identity}
    trainer = Trainer(model, job.config, rank_device(job.device), job.checkpoint_dir, identity)
    if job.resume:
        trainer.resume()
    trainer.fit(job.train_data, job.val_data, progress=job.progress)
    return to_cpu(trainer.model_state())


def launch_training(job: TrainingJob, distributed: DistributedConfig | None = None) -> dict:
    """Run ``job`` on ``distributed.world_size`` processes (in-process when that is 1)."""
    return launch(run_job, (job,), distributed, "training")
