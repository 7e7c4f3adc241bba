"""How a search scores its supernet at the end of every epoch: the derived path, with sink-connected
and single depths, and the same uniformly drawn paths every epoch."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ..parallel import all_sum
from ..sampling import PathChoice, uniform_path
from ..subnet import Subnet
from .config import RANDOM_PATHS, RANDOM_PATHS_SEED
from .setup import SearchSetup
from .state import SearchState


@torch.no_grad()
def evaluate_paths(setup: SearchSetup, state: SearchState, loader: Iterable) -> dict[str, float]:
    """Top-1 of the derived ops (argmax alpha) through the supernet, batch statistics:
    ``val_top1`` with the sink-connected stage outputs weighted by ``softmax(beta)``, as the
    weights were trained; ``val_top1_single_depth`` with the argmax depth of each stage only,
    the network derivation will build; ``val_top1_random_paths``, the mean over
    ``RANDOM_PATHS`` uniformly drawn ops per layer (the same ones every epoch). The loader
    should mix the classes within each batch (batch statistics)."""
    supernet = state.supernet
    subnet = Subnet.strongest(setup.space, state.alpha, state.beta, supernet.widths())
    depth_weights = [torch.softmax(b.detach(), 0) for b in state.beta]
    choices = {
        "val_top1": PathChoice(path=list(subnet.ops), depth_weights=depth_weights),
        "val_top1_single_depth": PathChoice(path=list(subnet.ops), depths=list(subnet.depths)),
    }
    # the same uniformly drawn paths every epoch: whether the supernet has trained a space or
    # only the path alpha prefers (learning_status)
    generator = torch.Generator().manual_seed(setup.config.seed + RANDOM_PATHS_SEED)
    for k in range(RANDOM_PATHS):
        choices[f"random_path_{k}"] = PathChoice(uniform_path(state.host_alpha, generator), depth_weights=depth_weights)
    counts = torch.zeros(len(choices) + 1, device=setup.device)  # correct per choice, then examples
    for i, (x, y) in enumerate(loader):
        if setup.config.eval_batches is not None and i >= setup.config.eval_batches:
            break
        x, y = setup.on_device(x, y)
        for k, choice in enumerate(choices.values()):
            with setup.autocast():
                counts[k] += (supernet(x, choice).argmax(1) == y).sum()
        counts[-1] += len(y)
    counts = all_sum(counts).tolist()  # every process's share of the validation batches
    top1 = {key: counts[k] / max(1, counts[-1]) for k, key in enumerate(choices)}
    random = [top1.pop(f"random_path_{k}") for k in range(RANDOM_PATHS)]
    return top1 | {"val_top1_random_paths": float(np.mean(random))}
