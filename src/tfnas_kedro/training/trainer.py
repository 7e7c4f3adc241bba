"""The trainer: SGD with a closed-form warm-up + cosine schedule, label smoothing, AMP and
channels-last on CUDA, optional weight EMA, a checkpoint after every epoch, and exact resume.

Every epoch starts from RNG states derived from the seed, the epoch and the process rank, and the
sampler orders the data from the seed and the epoch: a run killed mid-epoch and resumed from its
last checkpoint replays the interrupted epoch exactly (with ``workers: 0`` or non-persistent workers).
Several processes (``torch.distributed`` already initialised) train one DDP model on disjoint
shards of every global batch; only rank 0 writes files.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from tfnas_kedro.nas import ArchDescription, network_with_weights
from tfnas_kedro.nas.checkpoints import check_format, check_same_run, epoch_seed, load_checkpoint, save_atomic
from tfnas_kedro.nas.errors import ConfigError
from tfnas_kedro.nas.parallel import Ranks, all_sum
from tfnas_kedro.nas.progress import EpochProgress
from tfnas_kedro.nas.scoring import recalibrate_batchnorm
from tfnas_kedro.nas.seeding import seed_everything
from tfnas_kedro.runtime import autocast_dtype

from .config import TrainConfig
from .ema import ModelEma
from .sharding import ShardSampler
from .sync_batchnorm import synchronise_batchnorm

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


class TrainingError(RuntimeError):
    """Training cannot go on: NaN loss, or a checkpoint that is unreadable or belongs to another run."""


def learning_rate(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``base`` to 0 at ``total``."""
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * base * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, logits.shape[1])
    return (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1).sum()


class Trainer:
    """Trains one stand-alone network; ``identity`` (architecture, data) guards resume."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        device: torch.device,
        checkpoint_dir: str | Path | None = None,
        identity: dict | None = None,
    ):
        self.config, self.device, self.ranks = config, device, Ranks.current()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.identity = identity or {}
        self.amp_dtype = autocast_dtype(config.amp, device)
        self.channels_last = config.channels_last == "on" or (config.channels_last == "auto" and device.type == "cuda")
        if self.ranks.world_size > 1 and config.sync_batchnorm:
            model = synchronise_batchnorm(model, device)
        self.model = model.to(
            device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format
        )
        self.forward_model = (
            DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
            if self.ranks.world_size > 1
            else self.model
        )
        self.optimizer = sgd(self.model, config)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.ema = ModelEma(self.model, config.ema_decay) if config.ema_decay else None
        self.epoch = 0
        self.history: list[dict] = []

    # --- the loop ------------------------------------------------------------------------------
    def fit(self, train_data: Dataset, val_data: Dataset, progress: bool = True) -> list[dict]:
        """Train the remaining epochs, evaluating and checkpointing after each."""
        c = self.config
        loader = training_loader(train_data, c, self.ranks, self.device, train=True)
        val_loader = training_loader(val_data, c, self.ranks, self.device, train=False)
        steps = len(loader)
        if steps == 0:
            raise ConfigError(
                f"batch_size {c.batch_size} exceeds the {len(train_data)} training images: no full batch to train on"
            )
        total, warmup = c.epochs * steps, round(c.warmup_epochs * steps)
        while self.epoch < c.epochs:
            epoch, started = self.epoch, time.perf_counter()
            seed_everything(epoch_seed(c.seed, epoch, self.ranks.rank))
            loader.sampler.set_epoch(epoch)
            bar = EpochProgress(epoch, c.epochs, steps, c.log_every, enabled=progress and self.ranks.is_main)
            train = self._train_epoch(loader, epoch * steps, total, warmup, bar)
            seconds = time.perf_counter() - started
            if c.precise_bn_images:
                recalibrate_batchnorm(self.model, loader, c.precise_bn_images, self.device)
            val = self.evaluate(val_loader)
            row = {"epoch": epoch, "lr": train.pop("lr"), **train, **val, "seconds": seconds}
            if self.ema is not None:
                row |= {f"ema_{k}": v for k, v in self.evaluate(val_loader, self.ema.module).items()}
            self.history.append(row)
            self.epoch = epoch + 1
            if self.ranks.is_main:
                logger.info(
                    "epoch %d/%d: train loss %.3f top-1 %.3f, val loss %.3f top-1 %.3f top-5 %.3f, %.0f img/s, %.0f s",
                    self.epoch, c.epochs, row["train_loss"], row["train_top1"], row["val_loss"],
                    row["val_top1"], row["val_top5"], row["images_per_s"], seconds,
                )  # fmt: skip
                self.save_checkpoint()
            if self.ranks.world_size > 1:
                dist.barrier()
        return self.history

    def _train_epoch(self, loader, first_step: int, total: int, warmup: int, bar: EpochProgress) -> dict:
        c = self.config
        self.forward_model.train()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen, lr, started = 0, c.lr, time.perf_counter()
        for step, (x, y) in enumerate(loader):
            lr = learning_rate(first_step + step, total, warmup, c.lr)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            x = x.to(self.device, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = y.to(self.device, non_blocking=True)
            with torch.autocast(
                self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
            ):
                logits = self.forward_model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=c.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if c.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema is not None:
                self.ema.update(self.model)
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            if bar.due(step):
                self._check_finite(loss_sum)
                bar.update(step, seen * self.ranks.world_size, loss=float(loss_sum) / seen, acc=float(correct) / seen)
        bar.close()
        self._check_finite(loss_sum)
        elapsed = time.perf_counter() - started
        totals = all_sum(
            torch.stack([loss_sum.float(), correct.float(), torch.tensor(float(seen), device=self.device)])
        )
        return {
            "lr": lr,
            "train_loss": float(totals[0] / totals[2]),
            "train_top1": float(totals[1] / totals[2]),
            "images_per_s": float(totals[2]) / elapsed,
        }

    def _check_finite(self, loss_sum: torch.Tensor) -> None:
        if not torch.isfinite(loss_sum):
            kept = (
                f"the checkpoint of epoch {self.epoch} is kept in {self.checkpoint_dir}"
                if self.epoch
                else "no checkpoint yet"
            )
            raise TrainingError(
                f"training loss is not finite in epoch {self.epoch + 1}; {kept}. "
                "Lower lr or enable grad_clip, then resume"
            )

    def evaluate(self, loader: DataLoader, model: nn.Module | None = None) -> dict:
        """Validation loss, top-1 and top-5 over all processes' shards (every image exactly once)."""
        return evaluate_model(model or self.model, loader, self.device, self.channels_last, self.amp_dtype)

    # --- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "identity": self.identity,
            "config": self.config.model_dump(mode="json"),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": {"epoch": self.epoch},  # the schedule is a closed-form function of the step
            "rng": {"seed": self.config.seed, "torch": torch.get_rng_state()},  # epochs reseed from seed
            "history": self.history,
        }

    def model_state(self) -> dict:
        """What inference and fine-tuning need (the ``trained_model`` artifact): the weights, the
        EMA, what they are and how they were trained; the optimiser state stays in the resume
        checkpoints of ``checkpoint_dir``."""
        state = self.state_dict()
        return {k: v for k, v in state.items() if k not in ("optimizer", "scaler", "scheduler", "rng")}

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        check_format(state, CHECKPOINT_FORMAT, "training", source, TrainingError)
        check_same_run(self.identity, state["identity"], "training run", source, TrainingError)
        saved = {k: v for k, v in state["config"].items() if k not in RESUMABLE_CHANGES}
        mine = {k: v for k, v in self.config.model_dump(mode="json").items() if k not in RESUMABLE_CHANGES}
        changed = sorted(k for k in mine if mine[k] != saved.get(k))
        if changed:
            raise TrainingError(
                f"{source} was trained with other settings ({', '.join(changed)}); set resume: false to start afresh"
            )
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.epoch, self.history = state["epoch"], list(state["history"])

    def save_checkpoint(self) -> None:
        if self.checkpoint_dir is None:
            return
        state = self.state_dict()
        save_atomic(state, self.checkpoint_dir / f"epoch-{self.epoch:04d}.pt")
        save_atomic(state, self.checkpoint_dir / "last.pt")
        for old in sorted(self.checkpoint_dir.glob("epoch-*.pt"))[: -self.config.keep_checkpoints]:
            old.unlink()

    def resume(self) -> bool:
        """Continue from ``last.pt`` in the checkpoint folder if present; ``True`` when one was loaded."""
        path = None if self.checkpoint_dir is None else self.checkpoint_dir / "last.pt"
        if path is None or not path.exists():
            return False
        self.load_state_dict(load_checkpoint(path, TrainingError, map_location=self.device), str(path))
        if self.ranks.is_main:
            logger.info("resumed from %s after epoch %d", path, self.epoch)
        return True


def sgd(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD over ``model``'s trainable parameters; BatchNorm and biases without weight decay unless
    ``decay_norm_and_bias``."""
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:  # frozen (fine-tuning only some layers)
            continue
        (no_decay if p.ndim <= 1 and not config.decay_norm_and_bias else decay).append(p)
    return torch.optim.SGD(
        [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )


def training_loader(data: Dataset, c: TrainConfig, ranks: Ranks, device: torch.device, train: bool) -> DataLoader:
    """This process's loader: ``train`` shuffles (the same permutation for any number of
    processes: each takes every world_size-th index) and keeps full batches only."""
    if c.batch_size % ranks.world_size:
        raise ConfigError(f"batch_size {c.batch_size} is not divisible by the {ranks.world_size} processes")
    if train:
        sampler = DistributedSampler(data, ranks.world_size, ranks.rank, shuffle=True, seed=c.seed, drop_last=True)
    else:
        sampler = ShardSampler(len(data), ranks.world_size, ranks.rank)
    return DataLoader(
        data,
        batch_size=c.batch_size // ranks.world_size,
        sampler=sampler,
        num_workers=c.workers,
        persistent_workers=c.workers > 0 and c.persistent_workers,
        pin_memory=c.pin_memory and device.type == "cuda",
        drop_last=train,
    )


@torch.no_grad()
def evaluate_model(
    model: nn.Module, loader: DataLoader, device: torch.device, channels_last: bool, amp: torch.dtype | None
) -> dict:
    """Validation loss, top-1 and top-5 of ``model`` over all processes' shards of ``loader``."""
    model = model.eval()
    sums = torch.zeros(4, device=device)
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = model(x).float()
        sums += torch.stack([
            F.cross_entropy(logits, y, reduction="sum"), topk_correct(logits, y, 1), topk_correct(logits, y, 5),
            torch.tensor(float(len(y)), device=device),
        ])  # fmt: skip
    sums = all_sum(sums)
    n = max(float(sums[3]), 1.0)
    return {"val_loss": float(sums[0]) / n, "val_top1": float(sums[1]) / n, "val_top5": float(sums[2]) / n}


# settings that may change between a run and its resumption without changing what was trained so far
RESUMABLE_CHANGES = {"epochs", "workers", "pin_memory", "persistent_workers", "log_every", "keep_checkpoints"}


def _saved_weights(checkpoint: dict, use_ema: bool) -> tuple[ArchDescription, dict]:
    """The description a training checkpoint was trained for and its weights as saved (the EMA's
    when asked for and present)."""
    if not isinstance(checkpoint, dict) or "model" not in checkpoint or "identity" not in checkpoint:
        raise TrainingError("not a training checkpoint: expected a dict with 'model' and 'identity'")
    arch = ArchDescription.model_validate(checkpoint["identity"]["architecture"])
    weights = checkpoint["ema"] if use_ema and checkpoint.get("ema") is not None else checkpoint["model"]
    return arch, weights


def checkpoint_contents(checkpoint: dict, use_ema: bool = False) -> tuple[ArchDescription, dict]:
    """The description a training checkpoint was trained for and its weights (the EMA's when
    asked for and present) under the network's own names, checked to fit that description."""
    arch, weights = _saved_weights(checkpoint, use_ema)
    return arch, network_with_weights(arch, weights, "checkpoint weights", TrainingError).state_dict()


def load_trained_network(checkpoint: dict, arch: ArchDescription | None = None, use_ema: bool = False) -> nn.Module:
    """The trained network of a training checkpoint (``trained_model``), in eval mode.

    Pass ``arch`` to check that the checkpoint was trained for it; a mismatch names both.
    """
    saved, weights = _saved_weights(checkpoint, use_ema)
    if arch is not None and arch.model_dump() != saved.model_dump():
        raise TrainingError(
            f"checkpoint was trained for architecture {saved.name!r} ({len(saved.blocks)} blocks, "
            f"{saved.num_classes} classes), not {arch.name!r} ({len(arch.blocks)} blocks, {arch.num_classes} classes)"
        )
    return network_with_weights(saved, weights, "checkpoint weights", TrainingError).eval()
