"""A search's checkpoints: what one holds, what a resume checks before taking it, and the result a
search hands on; and the trained supernet read back from a result."""

from __future__ import annotations

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
from .setup import SearchSetup
from .state import SearchState

logger = logging.getLogger(__name__)

# what derivation, the report and a user need of a search: the supernet and the optimisers stay
# in the resume checkpoint, whose path the result names
RESULT_KEYS = ("format", "epoch", "config", "identity", "loss_target_ms", "alpha", "beta", "widths", "history")


class SearchCheckpointer:
    """Writes and reads ``last.pt`` in the search's checkpoint folder (rank 0 only); a state is
    taken only from a checkpoint of the same search (:class:`~.config.SearchIdentity`)."""

    def __init__(self, setup: SearchSetup):
        self.setup = setup
        self.search_identity = SearchIdentity(setup.config, setup.penalty)

    @property
    def path(self) -> Path | None:
        folder = self.setup.checkpoint_dir
        return None if folder is None else folder / "last.pt"

    def state_dict(self, state: SearchState) -> dict:
        saved = state.saved()
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": saved.pop("epoch"),
            "config": self.setup.settings(),
            "identity": self.setup.identity(),
            **saved,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].tolist()},
        }

    def result(self, state: SearchState) -> dict:
        """The ``search_result`` artifact: :data:`RESULT_KEYS` and the checkpoint's path."""
        saved = self.state_dict(state)
        path = self.path
        return {**{k: saved[k] for k in RESULT_KEYS}, "checkpoint": None if path is None else str(path)}

    def load_state_dict(self, state: SearchState, saved: dict, source: str = "checkpoint") -> None:
        """Check ``saved`` is this search's (format, what it trains, its identifying settings), then
        restore ``state`` from it. A state from within the warm-up depends neither on the latency
        term nor on the settings that act after it: it may start any target's search."""
        check_format(saved, CHECKPOINT_FORMAT, "search", source, SearchError)
        check_same_run(self.setup.identity(), saved["identity"], "search", source, SearchError)
        target_free = saved["epoch"] <= self.setup.config.warmup_epochs
        differences = self.search_identity.differences(saved["config"], target_free)
        if differences:
            key, theirs, mine = differences[0]
            raise SearchError(f"{source} was made with {key}={theirs!r}, this search has {mine!r}")
        state.restore(saved, self.setup, target_free)

    def save(self, state: SearchState) -> None:
        if self.path is None or not self.setup.ranks.is_main:
            return
        save_atomic(self.state_dict(state), self.path)

    def resume(self, state: SearchState) -> bool:
        """Continue from the latest checkpoint if there is one; ``True`` when one was loaded. With
        several processes rank 0 reads it (the others need not see its disk) and sends it on."""
        path, saved = self.path, None
        if path is not None and path.exists() and self.setup.ranks.is_main:
            saved = load_checkpoint(path, SearchError, map_location="cpu")
        saved = broadcast_object(saved)
        if saved is None:
            return False
        self.load_state_dict(state, saved, str(path))
        logger.info("resumed from %s at epoch %d", path, state.epoch)
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
