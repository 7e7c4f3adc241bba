"""The Searcher's identity and checkpoints: what a checkpoint holds, what a resume checks, the
result a search hands on."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import torch

from ..arch import ArchDescription
from ..checkpoints import check_format, check_same_run, load_checkpoint, save_atomic
from ..errors import SearchError
from ..parallel import broadcast_object
from ..space import SearchSpace
from ..subnet import Subnet
from ..supernet import Supernet
from .config import CHECKPOINT_FORMAT, SearchIdentity

logger = logging.getLogger(__name__)


class SearchCheckpoints:
    """Identity, state and resume of :class:`~.searcher.Searcher` (a mixin: the state lives there)."""

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
            "config": self.settings(),
            "identity": self.identity(),
            "supernet": self.supernet.state_dict(),
            "loss_target_ms": self.loss_target_ms,
            "alpha": [a.detach().cpu().clone() for a in self.alpha],
            "beta": [b.detach().cpu().clone() for b in self.beta],
            "widths": self.supernet.widths(),
            "weight_optimizer": self.weight_optimizer.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "scalers": [self.weight_scaler.state_dict(), self.arch_scaler.state_dict()],
            "history": self.history,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].tolist()},
        }

    def result(self) -> dict:
        """What derivation, the report and a user need of a search (the ``search_result``
        artifact): alpha, beta, widths, settings, identity and history; the supernet and the
        optimisers stay in the resume checkpoint, whose path it names."""
        state = self.state_dict()
        kept = ("format", "epoch", "config", "identity", "loss_target_ms", "alpha", "beta", "widths", "history")
        path = self.checkpoint_path()
        return {**{k: state[k] for k in kept}, "checkpoint": None if path is None else str(path)}

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        check_format(state, CHECKPOINT_FORMAT, "search", source, SearchError)
        check_same_run(self.identity(), state["identity"], "search", source, SearchError)

        # a state from within the warm-up depends neither on the latency term nor on the settings that
        # act after it: it may start any target's search
        target_free = state["epoch"] <= self.config.warmup_epochs
        differences = SearchIdentity(self.config, self.penalty).differences(state["config"], target_free)
        if differences:
            key, saved, value = differences[0]
            raise SearchError(f"{source} was made with {key}={saved!r}, this search has {value!r}")
        self.supernet.load_state_dict(state["supernet"])
        with torch.no_grad():
            for mine, saved in zip(self.alpha + self.beta, state["alpha"] + state["beta"], strict=True):
                mine.copy_(saved)
        # copies: an optimiser keeps the tensors it is given, and a warm-up state may start several searches
        self.weight_optimizer.load_state_dict(copy.deepcopy(state["weight_optimizer"]))
        self.arch_optimizer.load_state_dict(copy.deepcopy(state["arch_optimizer"]))
        for scaler, saved in zip((self.weight_scaler, self.arch_scaler), state.get("scalers", ()), strict=False):
            if saved:  # an fp16 search's loss scales (empty when saved without fp16)
                scaler.load_state_dict(saved)
        self._refresh_host_copy()
        self.layer_ms = self._layer_ms()
        self.epoch = state["epoch"]
        self.loss_target_ms = self.target_ms if target_free else state["loss_target_ms"]
        self.history = [
            {**row, "target_ms": self.target_ms, "loss_target_ms": self.target_ms} if target_free else row
            for row in state["history"]
        ]

    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / "last.pt"

    def save_checkpoint(self) -> None:
        path = self.checkpoint_path()
        if path is None or not self.ranks.is_main:
            return
        save_atomic(self.state_dict(), path)

    def resume(self) -> bool:
        """Continue from the latest checkpoint if there is one; ``True`` when one was loaded. With
        several processes rank 0 reads it (the others need not see its disk) and sends it on."""
        path = self.checkpoint_path()
        state = None
        if path is not None and path.exists() and self.ranks.is_main:
            state = load_checkpoint(path, SearchError, map_location="cpu")
        state = broadcast_object(state)
        if state is None:
            return False
        self.load_state_dict(state, str(path))
        logger.info("resumed from %s at epoch %d", path, self.epoch)
        return True


def load_supernet(result: dict) -> Supernet:
    """The trained supernet of a search's result (its resume checkpoint), on the CPU: affine when
    the search was warm-started (``init``)."""
    space = SearchSpace.model_validate(result["identity"]["space"])
    affine = result.get("config", {}).get("init", "scratch") != "scratch"  # results from before init: scratch
    supernet = Supernet(space, result["identity"]["num_classes"], affine=affine)
    if not result.get("checkpoint") or not Path(result["checkpoint"]).is_file():
        raise SearchError(
            f"the search's supernet checkpoint {result.get('checkpoint')!r} is gone: run the search again "
            "(its resume checkpoint holds the supernet)"
        )
    state = load_checkpoint(result["checkpoint"], SearchError, map_location="cpu")
    supernet.load_state_dict(state["supernet"])
    return supernet


def subnet_weights(result: dict, subnet: Subnet) -> tuple[ArchDescription, dict[str, torch.Tensor]]:
    """``subnet``'s architecture and its weights in the search's trained supernet, as a stand-alone
    network's state dict (:meth:`Supernet.active_subnet`): what a fine-tuning starts from."""
    network = load_supernet(result).active_subnet(subnet)
    return network.arch, {k: v.detach().clone() for k, v in network.state_dict().items()}
