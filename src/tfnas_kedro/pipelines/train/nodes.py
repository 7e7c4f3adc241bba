"""Nodes of the ``train`` pipeline (docs/method.md section 9): retrain a description from scratch."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import torch
from torch.utils.data import DataLoader

from tfnas_kedro.artifacts import TestMetrics, TrainingMetrics
from tfnas_kedro.data.loaders import IndexedImages, eval_transform, held_out_rows, train_transform, training_rows
from tfnas_kedro.nas import ArchDescription, count_macs, count_params, zoo_arch
from tfnas_kedro.nas.calibration import check_in_session, measure_networks
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.scoring import correct_per_image
from tfnas_kedro.nas.search import subnet_weights
from tfnas_kedro.nas.stats import wilson_interval
from tfnas_kedro.nas.subnet import Subnet
from tfnas_kedro.params import LatencyParams, TrainParams, ZooTrainParams, parse_params
from tfnas_kedro.project import resolve
from tfnas_kedro.reporting import training_curves
from tfnas_kedro.runtime import resolve_device
from tfnas_kedro.training import (
    TrainingJob,
    export_executorch,
    export_onnx,
    launch_training,
)
from tfnas_kedro.training import load_trained_network as network_from_checkpoint
from tfnas_kedro.training.divergence import divergence_reason

logger = logging.getLogger(__name__)


def pick_zoo_architecture(train_zoo: dict) -> ArchDescription:
    """A published model by name (``params:train_zoo.model``) to train like a searched one."""
    p = parse_params(ZooTrainParams, train_zoo, "train_zoo")
    return zoo_arch(p.model)


def inherited_weights(
    architecture: ArchDescription, search_result: dict, searched_subnet: dict, train: dict
) -> dict[str, torch.Tensor]:
    """With ``train.init: inherit``, the weights of the searched path in the search's supernet as
    a stand-alone network of ``architecture`` (:meth:`Supernet.active_subnet`); with scratch, none
    (an empty dict)."""
    p = parse_params(TrainParams, train, "train")
    if p.init == "scratch":
        return {}
    arch, weights = subnet_weights(search_result, Subnet.from_dict(searched_subnet))
    if [b.model_dump() for b in arch.blocks] != [b.model_dump() for b in architecture.blocks]:
        raise ValueError(
            "params:train.init: inherit: the searched subnet is not the architecture being trained "
            f"({architecture.name!r}); retrain it with init: scratch, or search again"
        )
    logger.info("training %s from the supernet's weights of its path (%s)", architecture.name,
                search_result["checkpoint"])  # fmt: skip
    return weights


def train_network(
    architecture: ArchDescription,
    search_split: pd.DataFrame,
    image_index: pd.DataFrame,
    train: dict,
    initial_weights: dict | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Train ``architecture`` on the chosen data, from scratch or from ``initial_weights`` (of the
    same network: a classifier of another size starts afresh; empty: from scratch, as the pipeline
    decided); resumes from ``checkpoint_dir``.

    The classifier is sized to the data's classes and the description's resolution set to
    ``input_size``; the checkpoint records the description actually trained.
    """
    p = parse_params(TrainParams, train, "train")
    if p.init == "inherit" and initial_weights is None:  # a pipeline without a supernet to inherit from
        raise ValueError(
            f"params:train.init: inherit: {architecture.name!r} is not a path of a searched supernet here "
            "(a published model, or a pipeline without a search); set train.init: scratch"
        )
    train_rows, val_rows = training_rows(search_split, image_index, p.data)
    if train_rows.empty or val_rows.empty:
        raise ValueError(f"params:train.data={p.data!r}: no training or no validation images")
    num_classes = int(train_rows["class_index"].max()) + 1
    arch = architecture.model_copy(update={"num_classes": num_classes, "resolution": p.input_size})
    arch = ArchDescription.model_validate(arch.model_dump(by_alias=True))  # re-validate the resolution
    classes = train_rows.drop_duplicates("class_index").sort_values("class_index")["label"].tolist()
    identity = {"data": {"source": p.data, "classes": classes, "train": len(train_rows), "val": len(val_rows)}}
    if initial_weights:  # another start is another run: its own checkpoint folder
        identity["init"] = p.init
    digest = hashlib.sha256(json.dumps([arch.model_dump(mode="json"), identity], sort_keys=True).encode()).hexdigest()
    job = TrainingJob(
        arch=arch,
        config=p.recipe(),
        train_data=IndexedImages(
            train_rows["path"].tolist(),
            train_rows["class_index"].tolist(),
            train_transform(p.input_size, p.color_jitter),
        ),
        val_data=IndexedImages(
            val_rows["path"].tolist(), val_rows["class_index"].tolist(), eval_transform(p.input_size)
        ),
        device=p.device,
        checkpoint_dir=str(Path(resolve(p.checkpoint_dir)) / f"{arch.name or 'model'}-{digest[:10]}-seed{p.seed}"),
        resume=p.resume,
        identity=identity,
        initial_weights=initial_weights or None,
    )
    logger.info(
        "training %s (%d classes, %d training / %d validation images, input %d) for %d epochs",
        arch.name, num_classes, len(train_rows), len(val_rows), p.input_size, p.epochs,
    )  # fmt: skip
    state = launch_training(job, p.distributed)
    return state, pd.DataFrame(state["history"])


def export_trained_network(trained_model: dict, train: dict) -> tuple[bytes, ArchDescription, dict]:
    """The trained network as ONNX (checked by onnx's checker and onnxruntime) and its description."""
    p = parse_params(TrainParams, train, "train")
    network = network_from_checkpoint(trained_model, use_ema=p.use_ema)
    arch = network.arch
    data, report = export_onnx(network, arch.resolution, arch.in_channels)
    logger.info("exported %s to ONNX (%.1f MB): %s", arch.name, len(data) / 1e6, report)
    return data, arch, report


def export_executorch_program(trained_model: dict, train: dict, latency: dict) -> tuple[bytes, dict]:
    """The trained network as the ExecuTorch program that ships (XNNPACK, the table's batch size),
    checked against PyTorch. The program is also put in the table's program cache under the
    network's structure, so that the latency check of :func:`summarise_training` times this very
    file on the table's device."""
    from tfnas_kedro.nas.executorch_programs import ProgramCache

    p, lat = parse_params(TrainParams, train, "train"), parse_params(LatencyParams, latency, "latency")
    network = network_from_checkpoint(trained_model, use_ema=p.use_ema)
    arch, batch = network.arch, lat.network_settings().batch_size
    data, report = export_executorch(network, arch.resolution, arch.in_channels, batch)
    cached = ProgramCache(lat.network_settings().program_cache).path(
        network, (batch, arch.in_channels, arch.resolution, arch.resolution)
    )
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    logger.info("exported %s to ExecuTorch (%.1f MB): %s", arch.name, len(data) / 1e6, report)
    return data, report | {"cached_as": str(cached)}


@dataclass(frozen=True)
class TimingPlan:
    """How a trained network will be timed: where and as the table was (``settings``; None where
    ``train.measure_latency`` is off), beside the table's fidelity models (``anchors``)."""

    settings: ProfilerSettings | None = None
    anchors: list[ArchDescription] = field(default_factory=list)


def plan_timing(latency_table: LatencyTable, train: dict, latency: dict) -> TimingPlan:
    """Decided before any training (the node has only free inputs: a sequential run takes it
    first), so that a device or runtime other than the table's stops the run, naming both, before
    hours of training rather than after them."""
    if not parse_params(TrainParams, train, "train").measure_latency:
        return TimingPlan()
    lat = parse_params(LatencyParams, latency, "latency")
    return TimingPlan(lat.settings_for(latency_table), lat.anchor_archs(latency_table))


def summarise_training(
    trained_model: dict,
    latency_table: LatencyTable,
    train: dict,
    timing: TimingPlan,
    export_check: dict | None = None,
    executorch_check: dict | None = None,
) -> TrainingMetrics:
    """Top-1/top-5, params, MACs, table latency (when the table can price it), measured latency, the
    ONNX export's check where the network was exported (and the ExecuTorch program's, whose file
    is what the latency check times when the table is ExecuTorch's), and whether the run diverged
    (``diverged``, with the reason in ``divergence``: its top-1 then says more about the recipe
    than the network)."""
    p = parse_params(TrainParams, train, "train")
    network = network_from_checkpoint(trained_model, use_ema=p.use_ema)
    arch, last = network.arch, trained_model["history"][-1]
    prefix = "ema_" if p.use_ema and "ema_val_top1" in last else ""
    metrics = {
        "name": arch.name,
        "epochs": trained_model["epoch"],
        "init": trained_model["identity"].get("init", "scratch"),  # inherit: from the supernet's weights
        "top1": last[f"{prefix}val_top1"],
        "top5": last[f"{prefix}val_top5"],
        "val_loss": last[f"{prefix}val_loss"],
        "weights": "ema" if prefix else "model",
        "params_m": count_params(arch) / 1e6,
        "macs_m": count_macs(arch) / 1e6,
        "resolution": arch.resolution,
        "num_classes": arch.num_classes,
        "train_seconds": float(sum(row["seconds"] for row in trained_model["history"])),
        "onnx": export_check,
        "executorch": executorch_check,
    }
    metrics["divergence"] = divergence_reason(trained_model["history"], arch.num_classes)
    metrics["diverged"] = metrics["divergence"] is not None
    if metrics["diverged"]:
        logger.warning("training of %s diverged: %s", arch.name, metrics["divergence"])
    try:
        metrics["table_ms"] = latency_table.predict(arch)
    except (KeyError, ValueError) as err:  # another resolution, space or classifier than the table's
        metrics["table_ms"], metrics["table_note"] = None, str(err)
    settings = timing.settings  # where the table was timed
    if settings is not None and metrics["table_ms"] is not None:
        metrics |= check_in_session(latency_table, arch, timing.anchors, settings).model_dump()
    elif settings is not None:  # the table cannot price it: timed alone, in the table's unit
        measured = measure_networks([arch], settings, latency_table.meta.reference_ms)[0]
        metrics |= {"measured_ms": measured.ms, "raw_measured_ms": measured.raw_ms, "timed_on": settings.device}
    logger.info(
        "trained %s: top-1 %.3f, top-5 %.3f, %.1fM MACs", arch.name, metrics["top1"], metrics["top5"], metrics["macs_m"]
    )
    return TrainingMetrics(**metrics)


def plot_training(history: pd.DataFrame) -> go.Figure:
    """Loss and top-1 per epoch, training and validation."""
    return training_curves(history)


def evaluate_on_test(
    trained_model: dict, search_split: pd.DataFrame, image_index: pd.DataFrame, train: dict
) -> TestMetrics:
    """Top-1 of the trained network on the held-out test split, once, after training (nothing
    during training reads it), with its 95% Wilson interval and the per-image record that paired
    comparisons between networks are computed from (``correct_per_image``: 0/1 in the split's order)."""
    p = parse_params(TrainParams, train, "train")
    rows = held_out_rows(search_split, image_index, p.data)
    if rows.empty:
        note = "no test images: the data has no test split (see selection.test_source)"
        logger.warning("%s; the trained network is not scored on a test split", note)
        return TestMetrics(note=note)
    network = network_from_checkpoint(trained_model, use_ema=p.use_ema).to(resolve_device(p.device))
    images = IndexedImages(rows["path"].tolist(), rows["class_index"].tolist(), eval_transform(p.input_size))
    hits = correct_per_image(network, DataLoader(images, batch_size=max(p.batch_size, 64), num_workers=p.workers))
    low, high = wilson_interval(int(hits.sum()), len(hits))
    logger.info(
        "%s on %d test images: top-1 %.3f (95%% interval %.3f-%.3f)",
        network.arch.name,
        len(hits),
        hits.mean(),
        low,
        high,
    )
    return TestMetrics(
        name=network.arch.name,
        top1=float(hits.mean()),
        top1_low=low,
        top1_high=high,
        correct=int(hits.sum()),
        images=len(hits),
        weights="ema" if p.use_ema else "model",
        correct_per_image=hits.astype(int).tolist(),
    )
