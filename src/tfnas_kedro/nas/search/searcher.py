"""The Searcher: the supernet, alpha and beta, both optimisers and the history of one search. Its
steps are in ``_training.py``, its epoch loop in ``_loop.py``, its identity and checkpoints in
``_checkpoints.py``."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..elastic import ScalingResult
from ..latency import LatencyTable
from ..parallel import Ranks, all_sum, average_parameters
from ..penalty import LatencyPenalty, check_reachable
from ..sampling import path_choice, uniform_path
from ..space import SearchSpace
from ..supernet import Supernet
from ..warm_start import PretrainedNet, warm_start
from ._checkpoints import SearchCheckpoints
from ._loop import SearchLoop
from ._training import SearchTraining
from .config import RANDOM_PATHS_SEED, SearchConfig
from .probe import fit_linear_probe

logger = logging.getLogger(__name__)


class Searcher(SearchTraining, SearchLoop, SearchCheckpoints):
    """Owns the supernet, ``alpha``/``beta``, both optimisers and the history of one search.

    Data-parallel: in a ``torch.distributed`` group of several processes, each process runs its own
    Searcher on its share of every global batch; BatchNorm uses the global batch's statistics, the
    gradients of the weights and of alpha/beta are averaged, and every process draws the same paths
    from the same seeded sampler, so all of them hold the state one process would. Only rank 0
    writes checkpoints; a resume reads rank 0's and hands it to the others.
    """

    def __init__(
        self,
        space: SearchSpace,
        table: LatencyTable,
        num_classes: int,
        config: SearchConfig,
        device: torch.device,
        penalty: LatencyPenalty | None = None,
        checkpoint_dir: str | Path | None = None,
        channels_last: bool = False,
        checkpoint_every: int = 1,
        amp: torch.dtype | None = None,
    ):
        """``penalty`` holds the latency target; without one only the warm-up can run (:meth:`run`)."""
        # refused here, before any training, when no architecture of the space could meet the target
        self.reachable_ms = (
            check_reachable(table, space, penalty.target_ms) if penalty else table.reachable_range(space)
        )
        self.space = space.at_resolution(table.meta.resolution)
        self.table, self.config, self.penalty, self.device = table, config, penalty, device
        self.num_classes = num_classes
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        # epochs between checkpoints (the last one is always written): a resumed search replays the
        # epochs since, exactly, so this trades rework after a crash for time saving a big supernet
        self.checkpoint_every = checkpoint_every
        torch.manual_seed(config.seed)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        # mixed precision (CUDA: bf16, or fp16 with loss scaling); alpha, beta and the latency term stay fp32
        self.amp = amp
        self.weight_scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
        self.arch_scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
        # a warm start keeps the pretrained BatchNorm scales and shifts (nas/warm_start.py)
        affine = config.init != "scratch"
        self.supernet = Supernet(self.space, num_classes, affine=affine).to(device, memory_format=self.memory_format)
        self.ranks = Ranks.current()
        if self.ranks.parallel:
            self.supernet.synchronise_batch_norm()
        positions = self.space.positions()
        self.alpha = [torch.zeros(len(p.ops), device=device, requires_grad=True) for p in positions]
        self.beta = [torch.zeros(s.max_depth, device=device, requires_grad=True) for s in self.space.stages]
        self._refresh_host_copy()
        self.weight_optimizer = torch.optim.SGD(
            self.supernet.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.arch_optimizer = torch.optim.Adam(
            self.alpha + self.beta, lr=config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay
        )
        self.fixed_ms = table.fixed_ms + table.fixed_blocks_ms(self.space)
        self.layer_ms = self._layer_ms()
        self.loss_target_ms = self.target_ms  # the latency term's T (steered; see steer())
        self.epoch = 0
        self.history: list[dict] = []
        self.last_scaling: ScalingResult | None = None
        self.start_accuracy: dict | None = None  # a warm start's scores before the first step (start_from)

    @torch.no_grad()
    def start_from(self, source: PretrainedNet, weight_loader, val_loader) -> dict:
        """Warm start (``config.init``): every weight but the classifier's from ``source``
        (:func:`~..warm_start.warm_start`), then the classifier fitted as a linear probe on the
        features of uniformly drawn paths over one pass of ``weight_loader``, then the supernet
        scored as at the end of an epoch: the start the history's first row records."""
        report = warm_start(self.supernet, source)
        generator = torch.Generator().manual_seed(self.config.seed + RANDOM_PATHS_SEED + 1)
        self.supernet.eval()  # no dropout; BatchNorm keeps batch statistics
        features, labels = [], []
        for x, y in weight_loader:
            x, y = self._on_device(x, y)
            choice = path_choice(uniform_path(self.host_alpha, generator), self.alpha, self.beta)
            with self._autocast():
                features.append(self.supernet.features(x, choice).float().cpu())
            labels.append(y.cpu())
        weight, bias = fit_linear_probe(torch.cat(features), torch.cat(labels), self.num_classes)
        classifier = self.supernet.classifier
        classifier.weight.copy_(weight.to(classifier.weight.device))
        classifier.bias.copy_(bias.to(classifier.bias.device))
        average_parameters(classifier.parameters())  # each process fitted its share: one classifier for all
        self.supernet.train()
        self.start_accuracy = self.evaluate(val_loader)
        logger.info(
            "warm start from %s (stage depths %s, %d identity layers): derived path val top-1 %.3f, random paths "
            "%.3f (chance %.3f)", report["source"], report["stage_depths"], report["identity_layers"],
            self.start_accuracy["val_top1"], self.start_accuracy["val_top1_random_paths"], 1 / self.num_classes,
        )  # fmt: skip
        return report | {"start": self.start_accuracy}

    @property
    def target_ms(self) -> float | None:
        return None if self.penalty is None else self.penalty.target_ms

    def settings(self) -> dict:
        """The method's settings with the latency target and its weight: what a checkpoint records."""
        target = self.penalty.settings() if self.penalty else {"target_ms": None, "latency_lambda": None}
        return self.config.model_dump() | target

    def _layer_ms(self) -> list[torch.Tensor]:
        """The table's latency of every op at its current width, on the search device."""
        return [ms.to(self.device) for ms in self.table.layer_matrix(self.space, self.supernet.widths())]

    def _refresh_host_copy(self) -> None:
        """alpha and beta on the CPU, for choosing paths and derived ops without a device round trip
        per layer (one copy after each architecture step)."""
        params = self.alpha + self.beta
        flat = torch.cat([p.detach() for p in params]).cpu()
        parts = list(flat.split([p.numel() for p in params]))
        self.host_alpha, self.host_beta = parts[: len(self.alpha)], parts[len(self.alpha) :]

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None)

    def _share(self, n: int):
        """What this process's ``n`` examples weigh against an even share of the global batch: the
        mean over processes of ``loss * share`` is then the global batch's mean loss, however the
        batch was split (a last, short batch may split unevenly). A device tensor: no host wait."""
        if not self.ranks.parallel:
            return 1.0
        total = all_sum(torch.tensor(float(n), device=self.device))
        return n * self.ranks.world_size / total

    def _mean_over_ranks(self, values: list[torch.Tensor]) -> list[float]:
        """Per-process values averaged over the processes, on the host (one wait per call)."""
        stacked = torch.stack([v.float().reshape(()) for v in values])
        if self.ranks.parallel:
            stacked = all_sum(stacked) / self.ranks.world_size
        return stacked.tolist()
