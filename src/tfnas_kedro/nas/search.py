"""The TF-NAS search loop: alternating weight and architecture steps, elasticity-scaling per epoch,
checkpoints after every epoch, and resume.

Every epoch starts from RNG states derived from the seed and the epoch number, so a search that
is killed and resumed from its last checkpoint replays the interrupted epoch exactly and ends with
the same architecture as one that never stopped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from .arch import ArchDescription
from .checkpoints import load_checkpoint, save_atomic
from .elastic import ScalingResult, elasticity_scale
from .latency import LatencyTable, expected_latency
from .sampling import PathChoice, bi_sample, gumbel_path, mixture_choice, path_choice, uniform_path
from .seeding import seed_everything
from .space import SearchSpace
from .supernet import Supernet, derive_architecture, strongest_choices

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


class SearchError(RuntimeError):
    """The search cannot go on (NaN loss, mismatched checkpoint, unreachable target)."""


class SearchConfig(BaseModel):
    """The method's settings (tfnas-method.md section 7; defaults are the paper's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_ms: float = Field(gt=0)
    epochs: int = Field(90, ge=1)
    warmup_epochs: int = Field(10, ge=0)
    lr: float = Field(0.025, gt=0)
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(1e-5, ge=0)
    grad_clip: float = Field(5.0, gt=0)
    arch_lr: float = Field(0.01, gt=0)
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = Field(5e-4, ge=0)
    arch_every: int = Field(2, ge=1)
    tau: float = Field(5.0, gt=0)
    tau_decay: float = Field(0.96, gt=0, le=1)
    latency_lambda: float = Field(0.1, ge=0)
    bisampling: bool = True
    elasticity: bool = True
    eval_batches: int | None = Field(None, ge=1)
    seed: int = 0


def backward_paths(
    supernet: Supernet, x: torch.Tensor, y: torch.Tensor, paths: list[list[int]], alpha, beta
) -> list[torch.Tensor]:
    """Cross-entropy of each single path, back-propagated one path at a time so that only one
    path's activations are alive at once; gradients accumulate. Returns the (detached) losses."""
    losses = []
    for path in paths:
        loss = F.cross_entropy(supernet(x, path_choice(path, alpha, beta)), y)
        loss.backward()
        losses.append(loss.detach())
    return losses


def _seed_epoch(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919) % (2**31)


class Searcher:
    """Owns the supernet, ``alpha``/``beta``, both optimisers and the history of one search."""

    def __init__(
        self,
        space: SearchSpace,
        table: LatencyTable,
        num_classes: int,
        config: SearchConfig,
        device: torch.device,
        checkpoint_dir: str | Path | None = None,
    ):
        low, high = table.reachable_range(space)
        if not low <= config.target_ms <= high:
            raise SearchError(
                f"target {config.target_ms:.3f} ms is outside what the space can reach on this table "
                f"({low:.3f}..{high:.3f} ms on {table.meta.device_name}, {table.meta.device}); "
                "choose a target in that range"
            )
        self.space = space.at_resolution(table.meta.resolution)
        self.table, self.config, self.device = table, config, device
        self.num_classes = num_classes
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        torch.manual_seed(config.seed)
        self.supernet = Supernet(self.space, num_classes).to(device)
        positions = self.space.positions()
        self.alpha = [torch.zeros(len(p.ops), requires_grad=True) for p in positions]
        self.beta = [torch.zeros(s.max_depth, requires_grad=True) for s in self.space.stages]
        self.weight_optimizer = torch.optim.SGD(
            self.supernet.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.arch_optimizer = torch.optim.Adam(
            self.alpha + self.beta, lr=config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay
        )
        self.fixed_ms = table.fixed_ms + table.fixed_blocks_ms(self.space)
        self.layer_ms = table.layer_matrix(self.space, self.supernet.widths())
        self.epoch = 0
        self.history: list[dict] = []
        self.last_scaling: ScalingResult | None = None

    # --- schedules -----------------------------------------------------------------------------
    def temperature(self, epoch: int) -> float:
        return self.config.tau * self.config.tau_decay ** max(0, epoch - self.config.warmup_epochs)

    def learning_rate(self, step: int, total: int) -> float:
        """Cosine from ``lr`` to 0 over all weight steps, in closed form (resume-safe)."""
        return 0.5 * self.config.lr * (1.0 + math.cos(math.pi * step / max(1, total)))

    # --- steps ---------------------------------------------------------------------------------
    def _check(self, loss: torch.Tensor, what: str) -> None:
        if not torch.isfinite(loss):
            raise SearchError(
                f"{what} loss is {loss.item()} at epoch {self.epoch}; the last good checkpoint "
                f"(end of epoch {self.epoch - 1}) is kept in {self.checkpoint_dir}. Lower the learning rate or resume."
            )

    def weight_step(self, x: torch.Tensor, y: torch.Tensor, paths: list[list[int]], lr: float) -> float:
        for group in self.weight_optimizer.param_groups:
            group["lr"] = lr
        self.weight_optimizer.zero_grad(set_to_none=True)
        losses = backward_paths(self.supernet, x, y, paths, self.alpha, self.beta)
        for loss in losses:
            self._check(loss, "weight")  # before the step: a NaN never reaches the weights
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.weight_optimizer.step()
        return float(sum(losses)) / len(paths)

    def arch_step(self, x: torch.Tensor, y: torch.Tensor, tau: float, generator: torch.Generator) -> dict:
        choice = mixture_choice(self.alpha, self.beta, tau, generator)
        logits = self.supernet(x, choice)
        ce = F.cross_entropy(logits, y)
        latency = expected_latency(
            self.layer_ms, choice.op_weights, choice.depth_weights, self.supernet.stage_of_layer, self.fixed_ms
        )
        loss = ce + self.config.latency_lambda * torch.abs(latency / self.config.target_ms - 1.0)
        self._check(loss, "architecture")
        self.arch_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.arch_optimizer.step()
        self.supernet.zero_grad(set_to_none=True)  # weights are frozen in this step
        return {
            "arch_loss": float(loss.detach()),
            "arch_ce": float(ce.detach()),
            "expected_ms": float(latency.detach()),
        }

    # --- derivation and widths -----------------------------------------------------------------
    def derived(self, name: str = "searched") -> ArchDescription:
        return derive_architecture(
            self.space, self.alpha, self.beta, self.supernet.widths(), self.num_classes, name=name
        )

    def scale_widths(self) -> ScalingResult:
        depths, ops = strongest_choices(self.space, self.alpha, self.beta)
        result = elasticity_scale(self.table, self.space, depths, ops, self.supernet.widths(), self.config.target_ms)
        self.supernet.set_widths(result.widths)
        self.layer_ms = self.table.layer_matrix(self.space, self.supernet.widths())
        self.last_scaling = result
        return result

    @torch.no_grad()
    def evaluate(self, loader: Iterable) -> float:
        """Top-1 of the currently derived path through the supernet (batch statistics)."""
        depths, ops = strongest_choices(self.space, self.alpha, self.beta)
        choice = PathChoice(path=ops, depths=depths)
        correct = total = 0
        for i, (x, y) in enumerate(loader):
            if self.config.eval_batches is not None and i >= self.config.eval_batches:
                break
            logits = self.supernet(x.to(self.device), choice)
            correct += int((logits.argmax(1).cpu() == y).sum())
            total += len(y)
        return correct / max(1, total)

    # --- the loop ------------------------------------------------------------------------------
    def run(
        self,
        weight_loader,
        arch_loader,
        val_loader,
        on_step: Callable[[int, int], None] | None = None,
    ) -> list[dict]:
        """Run the remaining epochs. The loaders' generators are re-seeded every epoch."""
        c = self.config
        steps_per_epoch = len(weight_loader)
        total_steps = c.epochs * steps_per_epoch
        while self.epoch < c.epochs:
            epoch, started = self.epoch, time.perf_counter()
            seed = _seed_epoch(c.seed, epoch)
            seed_everything(seed)
            for loader, offset in ((weight_loader, 1), (arch_loader, 2)):
                if getattr(loader, "generator", None) is not None:
                    loader.generator.manual_seed(seed + offset)
            sampler = torch.Generator().manual_seed(seed + 3)
            tau, warm = self.temperature(epoch), epoch < c.warmup_epochs
            arch_batches = _cycle(arch_loader)
            totals: dict[str, list[float]] = {"weight_loss": [], "arch_loss": [], "arch_ce": [], "expected_ms": []}
            for step, (x, y) in enumerate(weight_loader):
                if on_step is not None:
                    on_step(epoch, step)
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                if warm:
                    paths = [uniform_path(self.alpha, sampler)]
                elif c.bisampling:
                    paths = list(bi_sample(self.alpha, sampler))
                else:
                    paths = [gumbel_path(self.alpha, sampler)]
                lr = self.learning_rate(epoch * steps_per_epoch + step, total_steps)
                totals["weight_loss"].append(self.weight_step(x, y, paths, lr))
                if not warm and step % c.arch_every == 0:
                    xa, ya = next(arch_batches)
                    for key, value in self.arch_step(xa.to(self.device), ya.to(self.device), tau, sampler).items():
                        totals[key].append(value)
            scaling = self.scale_widths() if (c.elasticity and not warm) else None
            self.epoch = epoch + 1
            row = self._history_row(
                epoch, tau, totals, scaling, self.evaluate(val_loader), time.perf_counter() - started
            )
            self.history.append(row)
            logger.info(
                "search epoch %d/%d: weight loss %.3f, val top-1 %.3f, derived %.3f ms (target %.3f), tau %.2f, %.0f s",
                self.epoch,
                c.epochs,
                row["weight_loss"],
                row["val_top1"],
                row["derived_ms"],
                c.target_ms,
                tau,
                row["seconds"],
            )
            self.save_checkpoint()
        return self.history

    def _history_row(self, epoch, tau, totals, scaling, val_top1, seconds) -> dict:
        arch = self.derived()
        mean = {k: (float(np.mean(v)) if v else float("nan")) for k, v in totals.items()}
        return {
            "epoch": epoch,
            "tau": tau,
            **mean,
            "val_top1": val_top1,
            "derived_ms": self.table.predict(arch),
            "target_ms": self.config.target_ms,
            "scaled": scaling is not None,
            "scaling_feasible": None if scaling is None else scaling.feasible,
            "alpha": [torch.softmax(a.detach(), 0).tolist() for a in self.alpha],
            "beta": [torch.softmax(b.detach(), 0).tolist() for b in self.beta],
            "widths": [b.mid for b in arch.blocks],
            "seconds": seconds,
        }

    # --- checkpoints ---------------------------------------------------------------------------
    def identity(self) -> dict:
        m = self.table.meta
        return {
            "space": self.space.model_dump(mode="json"),
            "table": {
                "device": m.device,
                "device_name": m.device_name,
                "created": m.created,
                "resolution": m.resolution,
            },
            "num_classes": self.num_classes,
        }

    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "config": self.config.model_dump(),
            "identity": self.identity(),
            "supernet": self.supernet.state_dict(),
            "alpha": [a.detach().clone() for a in self.alpha],
            "beta": [b.detach().clone() for b in self.beta],
            "widths": self.supernet.widths(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "history": self.history,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].tolist()},
        }

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise SearchError(f"{source} is not a search checkpoint of this version (format {state.get('format')})")
        if state["identity"] != self.identity():
            mine, theirs = self.identity(), state["identity"]
            diff = [k for k in mine if mine[k] != theirs.get(k)]
            raise SearchError(f"{source} belongs to another search: its {', '.join(diff)} differ from this one's")

        def plain(value):
            return list(value) if isinstance(value, tuple | list) else value

        for key, value in self.config.model_dump().items():
            saved = state["config"].get(key)
            if key != "epochs" and plain(saved) != plain(value):
                raise SearchError(f"{source} was made with {key}={saved!r}, this search has {value!r}")
        # the channel buffers change size with the widths: restore the widths' shapes first
        for j, row in enumerate(self.supernet.widths()):
            for i, name in enumerate(row):
                setattr(
                    self.supernet,
                    f"channels_{j}_{i}",
                    torch.zeros(state["widths"][j][name], dtype=torch.long, device=self.device),
                )
        self.supernet.load_state_dict(state["supernet"])
        with torch.no_grad():
            for mine, saved in zip(self.alpha + self.beta, state["alpha"] + state["beta"], strict=True):
                mine.copy_(saved)
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.layer_ms = self.table.layer_matrix(self.space, self.supernet.widths())
        self.epoch, self.history = state["epoch"], list(state["history"])

    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / "last.pt"

    def save_checkpoint(self) -> None:
        path = self.checkpoint_path()
        if path is None:
            return
        save_atomic(self.state_dict(), path)

    def resume(self) -> bool:
        """Continue from the latest checkpoint if there is one; ``True`` when one was loaded."""
        path = self.checkpoint_path()
        if path is None or not path.exists():
            return False
        state = load_checkpoint(path, SearchError, map_location=self.device)
        self.load_state_dict(state, str(path))
        logger.info("resumed from %s at epoch %d", path, self.epoch)
        return True


def _cycle(loader):
    while True:
        yield from loader
