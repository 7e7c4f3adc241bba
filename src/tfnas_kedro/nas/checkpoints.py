"""Checkpoints shared by the search and the trainer: atomic saves, readable load errors, the checks
that a checkpoint belongs to the run resuming from it, the seeds every epoch starts from, and the
one function that puts saved weights into the network of an architecture."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .arch import ArchDescription
from .network import TFNASNet, build_network

# what wrappers put before a network's own names: DistributedDataParallel (and EMA copies of a
# wrapped model) ``module.``, torch.compile ``_orig_mod.``; nested wrappers stack them
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

# how a resumed run is pointed at a checkpoint of its own
START_AFRESH = "set resume: false or another checkpoint_dir to start afresh"


def save_atomic(state: dict, path: str | Path) -> None:
    """``torch.save`` to a temporary file, then rename: a crash while saving keeps the previous file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, error: type[Exception], map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only``); an unreadable file raises ``error`` naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise error(f"cannot read checkpoint {path}: {err}. Delete it (or set resume: false) to start afresh") from err


def to_cpu(value):
    """``value`` (tensors in dicts and lists) with every tensor on the CPU: what crosses processes."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_cpu(v) for v in value)
    return value


# --- resuming --------------------------------------------------------------------------------------
def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed process ``rank`` starts ``epoch`` from: derived from the run's seed, not carried
    over from the epoch before, so a run resumed from a checkpoint replays the interrupted epoch."""
    return (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % (2**31)


def check_format(state: object, version: int, kind: str, source: str, error: type[Exception]) -> None:
    """Refuse ``state`` unless it is a ``kind`` checkpoint (a dict) written in format ``version``."""
    found = state.get("format") if isinstance(state, dict) else None
    if found != version:
        raise error(f"{source} is not a {kind} checkpoint of this version (format {found}); {START_AFRESH}")


def identity_differences(mine: dict, saved: dict) -> list[str]:
    """The keys, sorted, whose values differ between two run identities (absent counts as differing)."""
    return sorted(k for k in mine.keys() | saved.keys() if mine.get(k) != saved.get(k))


def check_same_run(mine: dict, saved: dict, run: str, source: str, error: type[Exception]) -> None:
    """Refuse a checkpoint whose identity (what the run trains: data, space, architecture) is not
    this ``run``'s, naming what differs: resuming it would continue another run's weights."""
    if saved != mine:
        differ = ", ".join(identity_differences(mine, saved))
        raise error(f"{source} belongs to another {run}: its {differ} differ from this one's; {START_AFRESH}")


# --- weights into an architecture ------------------------------------------------------------------
def unwrapped_weights(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` under the network's own names: every wrapper prefix removed from every key."""
    plain = {}
    for key, value in weights.items():
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        plain[key] = value
    return plain


def _shape(value: object) -> tuple[int, ...] | str:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else f"a {type(value).__name__}, not a tensor"


def misfitting_tensors(own: Mapping[str, torch.Tensor], weights: Mapping[str, object]) -> list[str]:
    """Every tensor of ``own`` (a network's state dict) that ``weights`` lack or hold in another
    shape, in the network's order, one readable line each."""
    return [
        f"{k} (expected {tuple(v.shape)}, found {_shape(weights[k]) if k in weights else 'missing'})"
        for k, v in own.items()
        if k not in weights or _shape(weights[k]) != tuple(v.shape)
    ]


def _first_few(names: list[str], shown: int = 10) -> str:
    # weights of another architecture differ in hundreds of tensors: the first ones tell which
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more if names else "none"


def network_with_weights(
    arch: ArchDescription,
    weights: Mapping[str, torch.Tensor],
    source: str = "weights",
    error: type[Exception] = ValueError,
) -> TFNASNet:
    """The network of ``arch`` holding ``weights``: a state dict of that architecture, its keys
    possibly behind wrapper prefixes (``module.``, ``_orig_mod.``). Unless every tensor fits and
    none is left over, raises ``error`` naming ``source``, how many tensors differ and the first of them."""
    network = build_network(arch)
    own, weights = network.state_dict(), unwrapped_weights(weights)
    misfits = misfitting_tensors(own, weights)
    unexpected = [k for k in weights if k not in own]
    if misfits or unexpected:
        first = misfits[0] if misfits else f"{unexpected[0]} (unexpected)"
        raise error(
            f"{source} do not fit {arch.name}: {len(misfits)} of {len(own)} tensors differ and "
            f"{len(unexpected)} are unexpected, first {first}; these are the weights of another "
            "architecture: load them into the one they were trained for. "
            f"Differ: {_first_few(misfits)}. Unexpected: {_first_few(unexpected)}"
        )
    network.load_state_dict(weights)
    return network
