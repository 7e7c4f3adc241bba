"""Nodes of the ``search`` pipeline (docs/method.md sections 3-8)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import torch

from tfnas_kedro.artifacts import SearchSummary, SearchTarget
from tfnas_kedro.data.in_memory import in_memory_loader
from tfnas_kedro.data.loaders import make_loader
from tfnas_kedro.data.pretrained import WARM_STARTS, warm_start_source
from tfnas_kedro.launch import launch, rank_device
from tfnas_kedro.nas import ArchDescription, count_macs, count_params, load_search_spaces
from tfnas_kedro.nas.calibration import check_in_session
from tfnas_kedro.nas.checkpoints import to_cpu
from tfnas_kedro.nas.elastic import elasticity_scale
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.parallel import ONE_PROCESS, Ranks
from tfnas_kedro.nas.penalty import target_ms_for
from tfnas_kedro.nas.search import Searcher, SearchError, SearchIdentity, describe_learning, learning_status
from tfnas_kedro.nas.subnet import Subnet
from tfnas_kedro.nas.target_fit import fit_to_target
from tfnas_kedro.nas.warm_start import check_fits
from tfnas_kedro.params import LatencyParams, SearchParams, TargetParams, parse_params
from tfnas_kedro.project import resolve
from tfnas_kedro.reporting import architecture_drawing, search_latency, search_probabilities
from tfnas_kedro.runtime import autocast_dtype

logger = logging.getLogger(__name__)


def _space(p: SearchParams, search_spaces: dict):
    spaces = load_search_spaces(search_spaces)
    if p.search_space not in spaces:
        raise ValueError(f"params:search.search_space: unknown space {p.search_space!r} (known: {sorted(spaces)})")
    return spaces[p.search_space]


def resolve_target(table: LatencyTable, search: dict, target: dict, latency: dict, search_spaces: dict) -> SearchTarget:
    """The target in ms, checked against what the space can reach on this table, before any training.

    The table must be the one the configuration asks for: measured on ``latency.device`` in
    ``latency.runtime``, at the search's input size, for the search's space; otherwise the
    mismatch is named.
    """
    p, t = parse_params(SearchParams, search, "search"), parse_params(TargetParams, target, "target")
    space, lat = _space(p, search_spaces), parse_params(LatencyParams, latency, "latency")
    lat.settings_for(table, resolution=p.input_size, space=space.name)  # or a stop naming both
    target_ms = target_ms_for(table, space, t.latency_ms, t.fraction)
    low, high = table.reachable_range(space)
    logger.info("latency target %.3f ms (reachable %.3f..%.3f ms)", target_ms, low, high)
    return SearchTarget(
        target_ms=target_ms,
        requested_ms=t.latency_ms,
        fraction=t.fraction if t.latency_ms is None else None,
        reachable_ms=(float(low), float(high)),
        space=space.name,
        device=table.meta.device,
        device_name=table.meta.device_name,
        runtime=table.meta.runtime.name,
    )


def _num_classes(split: pd.DataFrame, table: LatencyTable) -> int:
    num_classes = int(split["class_index"].max()) + 1
    if num_classes != table.meta.num_classes:
        raise SearchError(
            f"the search split has {num_classes} classes but the latency table's classifier has "
            f"{table.meta.num_classes}; set latency.num_classes to {num_classes}"
        )
    return num_classes


@dataclass(frozen=True, eq=False)
class SearchJob:
    """One search, or the warm-up (``target_ms`` None), as the node launches it: in this process,
    or on every rank of a data-parallel group (picklable)."""

    split: pd.DataFrame
    table: LatencyTable
    params: SearchParams  # parsed once, by the node, with the checkpoint folder in the project
    search_spaces: dict
    target_ms: float | None = None  # None: the target-free warm-up
    warmup: dict | None = None  # a warm-up's whole state to start from (when nothing resumes)
    until: int | None = None  # the last epoch to run (None: all)
    whole_state: bool = False  # return the whole state (a warm-up that searches start from), not the result

    @property
    def folder(self) -> str:
        return "warmup" if self.target_ms is None else f"{self.target_ms:.4f}ms"

    def checkpoints(self) -> Path:
        """One folder per search, named after its :class:`SearchIdentity` (which the resume check
        compares too): the same target and settings resume, others start afresh beside them; a
        warm-up's folder holds for every search that differs only in what acts after it."""
        p = self.params
        digest = SearchIdentity(p.config(), p.penalty(self.target_ms)).digest()
        return Path(p.checkpoint_dir) / f"{p.search_space}-{self.folder}-{digest}-seed{p.seed}"


def _searcher(job: SearchJob) -> Searcher:
    p, device = job.params, rank_device(job.params.device)
    return Searcher(
        _space(p, job.search_spaces),
        job.table,
        _num_classes(job.split, job.table),
        p.config(),
        device,
        p.penalty(job.target_ms),
        job.checkpoints(),
        channels_last=p.channels_last,
        checkpoint_every=p.checkpoint_every,
        amp=autocast_dtype(p.amp, device),
    )


def _parsed(search: dict) -> SearchParams:
    """``params:search`` parsed once, with its checkpoint folder taken from the project's folder
    here: launched workers do not know the Kedro context."""
    p = parse_params(SearchParams, search, "search")
    update = {"checkpoint_dir": resolve(p.checkpoint_dir)}
    if p.init not in ("scratch", *WARM_STARTS):  # a checkpoint's path, in the project unless absolute
        update["init"] = resolve(p.init)
        if not Path(update["init"]).is_file():
            raise ValueError(
                f"params:search.init: {p.init!r} is neither scratch, {', '.join(WARM_STARTS)}, nor a checkpoint file "
                f"({update['init']} does not exist)"
            )
    return p.model_copy(update=update)


def run_warmup(split: pd.DataFrame, table: LatencyTable, search: dict, search_spaces: dict) -> dict:
    """The warm-up epochs alone (weights only, uniformly random paths): they do not depend on the
    target, so one warm-up can start the searches of several targets (``run_search``'s ``warmup``)."""
    p = _parsed(search)
    job = SearchJob(split, table, p, search_spaces, until=p.warmup_epochs, whole_state=True)
    state, history = launch(_search_job, (job,), p.distributed, "search")
    logger.info("warm-up: %d epochs, weight loss %.3f", state["epoch"], history[-1]["weight_loss"])
    return state


def run_search(
    split: pd.DataFrame,
    table: LatencyTable,
    target: SearchTarget,
    search: dict,
    search_spaces: dict,
    warmup: dict | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Train the supernet and learn alpha/beta; resumes from ``checkpoint_dir`` when it holds a run,
    else starts from ``warmup`` (a state from :func:`run_warmup`) when given. Returns the search's
    result (alpha, beta, widths, history; the supernet stays in the resume checkpoint it names).
    With ``search.distributed`` of several processes, they search data-parallel and rank 0's
    result (the same on every rank) is returned."""
    p = _parsed(search)
    job = SearchJob(split, table, p, search_spaces, target_ms=target.target_ms, warmup=warmup)
    state, history = launch(_search_job, (job,), p.distributed, "search")
    status = learning_status(history, state["identity"]["num_classes"])
    (logger.info if status.learned else logger.warning)("search: %s", describe_learning(status))
    return state, pd.DataFrame(history)


def _search_job(job: SearchJob) -> tuple[dict, list[dict]]:
    """One search (or warm-up, up to epoch ``job.until``) in this process: alone, or as one rank of
    a data-parallel group. Returns, on the CPU, its whole state (a warm-up that searches start
    from) or its result (:meth:`Searcher.result`), and its history."""
    searcher, p = _searcher(job), job.params
    source = None if p.init == "scratch" else warm_start_source(p.init)
    if source is not None:
        check_fits(searcher.space, source)  # a mismatch stops before any image is read
    loaders = _loaders(job.split, p, searcher.device, searcher.ranks)
    if not (p.resume and searcher.resume()):
        if job.warmup is not None:
            searcher.load_state_dict(job.warmup, "the shared warm-up")
            logger.info("starting from the shared warm-up (%d epochs)", searcher.epoch)
        elif source is not None:  # the classifier's probe sees the weight split as evaluated
            probe = _loaders(job.split, p, searcher.device, searcher.ranks, {"weights": (False, False)})[0]
            searcher.start_from(source, probe, loaders[2])
    history = searcher.run(*loaders, until=job.until)
    return to_cpu(searcher.state_dict() if job.whole_state else searcher.result()), history


SEARCH_LOADERS = {"weights": (True, True), "arch": (True, False), "val": (False, False)}  # shuffle, augment


def _loaders(
    split: pd.DataFrame, p: SearchParams, device: torch.device, ranks: Ranks = ONE_PROCESS, kinds=SEARCH_LOADERS
) -> list:
    """Weights (shuffled, augmented), architecture (shuffled, evaluation transform: alpha and beta
    learn from the images as they are) and validation batches, from files or from memory; with
    several processes, each process's share of every global batch. ``kinds``: other splits, or
    the same in other transforms."""
    common = {"input_size": p.input_size, "batch_size": p.batch_size, "min_scale": p.crop_min_scale, "seed": p.seed,
              "ranks": ranks}  # fmt: skip
    if p.in_memory:
        memory_format = torch.channels_last if p.channels_last else torch.contiguous_format
        return [
            in_memory_loader(split, name, shuffle=shuffle, augment=augment, device=device,
                             memory_format=memory_format, **common)
            for name, (shuffle, augment) in kinds.items()
        ]  # fmt: skip
    return [
        make_loader(split, name, shuffle=shuffle, augment=augment, workers=p.workers, **common)
        for name, (shuffle, augment) in kinds.items()
    ]


def derive_searched_architecture(
    result: dict, table: LatencyTable, target: SearchTarget, search: dict, latency: dict, search_spaces: dict
) -> tuple[ArchDescription, SearchSummary, dict]:
    """The strongest op per layer and depth per stage at the widths that meet the target exactly."""
    p = parse_params(SearchParams, search, "search")
    space = _space(p, search_spaces).at_resolution(table.meta.resolution)
    alpha, beta = result["alpha"], result["beta"]
    num_classes = result["identity"]["num_classes"]
    target_ms = target.target_ms
    subnet = own = Subnet.strongest(space, alpha, beta, result["widths"])  # as the search left it
    scaling, notes = None, []
    if p.elasticity:
        own = elasticity_scale(table, space, subnet, target_ms).subnet
        depth_probs = [torch.softmax(b, 0).tolist() for b in beta]
        op_probs = [torch.softmax(a, 0).tolist() for a in alpha]
        fit = fit_to_target(table, space, depth_probs, op_probs, subnet, target_ms)
        subnet, scaling, notes = fit.subnet, fit.scaling, fit.notes
    arch = subnet.to_arch(space, num_classes, name=f"searched-{target_ms:.2f}ms")
    timing = {}
    if p.measure_latency:  # timed among the table's fidelity models, as the table's error was measured
        lat = parse_params(LatencyParams, latency, "latency")
        timing = check_in_session(table, arch, lat.anchor_archs(table), lat.settings_for(table)).model_dump()
    own_ms = table.predict(own.to_arch(space, num_classes))
    summary = _derivation_summary(arch, subnet, own_ms, table, target, result) | timing
    summary |= {"elasticity_message": None if scaling is None else scaling.message}
    summary = SearchSummary(**summary, fallback_changes=notes, fallback_count=len(notes))
    if notes:
        logger.warning(
            "the search's own architecture (%.3f ms) is %.1f%% off the %.3f ms target; the fallback made %d "
            "depth/op changes: %s. A longer search or a larger search.latency_lambda lets alpha and beta get there.",
            summary.own_ms, -100 * summary.own_gap, target_ms, len(notes), "; ".join(notes),
        )  # fmt: skip
    if not summary.target_met:
        logger.warning("derived architecture misses the target: %.3f ms > %.3f ms", summary.table_ms, target_ms)
    logger.info(
        "derived %s: %.3f ms on the table for a %.3f ms target, %.1fM MACs", arch.name, summary.table_ms, target_ms,
        summary.macs_m,
    )  # fmt: skip
    return arch, summary, subnet.as_dict()


def _derivation_summary(
    arch: ArchDescription, subnet: Subnet, own_ms: float, table: LatencyTable, target: SearchTarget, result: dict
) -> dict:
    """The fields of :class:`SearchSummary` that the derivation knows: the derived architecture's
    latency on the table against the target, the search's own result (``own_ms``: argmax ops and
    depths, widths by elasticity-scaling, no fallback), whether the supernet learned, its cost and
    its path."""
    target_ms, predicted = target.target_ms, table.predict(arch)
    history = result["history"]
    return {
        "name": arch.name,
        "target_ms": target_ms,
        "table_ms": predicted,
        "gap": (target_ms - predicted) / target_ms,
        "target_met": predicted <= target_ms,
        "own_ms": own_ms,
        "own_gap": (target_ms - own_ms) / target_ms,
        "supernet": learning_status(history, arch.num_classes),
        "macs_m": count_macs(arch) / 1e6,
        "params_m": count_params(arch) / 1e6,
        "blocks": len(arch.blocks),
        "device": table.meta.device,
        "device_name": table.meta.device_name,
        "reachable_ms": target.reachable_ms,
        "epochs": result["epoch"],
        "init": result["config"].get("init", "scratch"),  # where the supernet's weights started
        # the warm start's scores before any step (its history's first row), else None
        "start_random_paths_top1": history[0].get("start_val_top1_random_paths") if history else None,
        # the path through the supernet (depths, op per layer, widths): studies score it with inherited weights
        "subnet": subnet.as_dict(),
    }


def plot_search(
    history: pd.DataFrame, arch: ArchDescription, target: SearchTarget, search_spaces: dict, search: dict
) -> tuple[go.Figure, go.Figure, go.Figure]:
    """Latency per epoch against the target; alpha/beta over epochs; the result layer by layer."""
    p = parse_params(SearchParams, search, "search")
    stages = [pos.stage for pos in _space(p, search_spaces).positions()]
    return (
        search_latency(history, target.target_ms),
        search_probabilities(history, stages),
        architecture_drawing(arch),
    )
