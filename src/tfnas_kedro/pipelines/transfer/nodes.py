"""Nodes of the ``transfer`` pipeline (docs/method.md section 10): fine-tune on CIFAR-10/100."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch.utils.data import Subset

from tfnas_kedro.artifacts import TransferMetrics
from tfnas_kedro.data.cifar import FORMATS, cifar_format
from tfnas_kedro.data.demo import generate_demo_images
from tfnas_kedro.data.loaders import cifar_transforms
from tfnas_kedro.datasets import CifarRoot
from tfnas_kedro.nas import ArchDescription, network_with_weights, zoo_arch
from tfnas_kedro.nas.checkpoints import unwrapped_weights
from tfnas_kedro.params import DemoCifarParams, TransferParams, ZooTransferParams, parse_params, transfer_params
from tfnas_kedro.project import resolve
from tfnas_kedro.reporting import transfer_figure
from tfnas_kedro.training import TrainingError, TrainingJob, launch_training
from tfnas_kedro.training.trainer import checkpoint_contents

logger = logging.getLogger(__name__)


def draw_demo_cifar(transfer: dict, demo_cifar: dict) -> dict[str, tuple]:
    """Small CIFAR-10/100-format sets of the demo's drawn classes when ``transfer.data`` is ``demo``."""
    if parse_params(TransferParams, transfer, "transfer").data != "demo":
        return {}
    p = parse_params(DemoCifarParams, demo_cifar, "demo_cifar")
    sets = {}
    for name, fmt in FORMATS.items():
        images = generate_demo_images(
            fmt.num_classes, p.train_per_class.get(name, 10), p.test_per_class.get(name, 2), 32, p.seed
        )
        classes = sorted({key.split("/")[1] for key in images})
        splits = {}
        for split in ("train", "val"):
            keys = sorted(k for k in images if k.startswith(f"{split}/"))
            x = np.stack([np.asarray(images[k].convert("RGB")) for k in keys])
            y = np.array([classes.index(k.split("/")[1]) for k in keys])
            splits[split] = (x, y)
        sets[name] = (splits["train"], splits["val"], classes)
        logger.info(
            "drew a %s-format demo set: %d training and %d test images",
            fmt.title,
            len(splits["train"][1]),
            len(splits["val"][1]),
        )
    return sets


def zoo_source_model(zoo_weights: dict, transfer_zoo: dict) -> dict:
    """A published model with weights from a checkpoint file (``zoo_weights`` in the catalog): a
    plain state dict, or a training checkpoint of this project, made into a source for fine-tuning.
    Weights of another architecture are refused, naming the first tensor that does not fit."""
    name = parse_params(ZooTransferParams, transfer_zoo, "transfer_zoo").model
    weights = zoo_weights.get("model", zoo_weights) if isinstance(zoo_weights, dict) else None
    weights = unwrapped_weights(weights) if isinstance(weights, dict) else None
    if weights is None or "classifier.weight" not in weights:
        raise TrainingError("zoo_weights is not a state dict of a network this project builds (no classifier.weight)")
    # the number of classes is the one thing the published description leaves open
    arch = zoo_arch(name, num_classes=int(weights["classifier.weight"].shape[0]))
    network = network_with_weights(arch, weights, "zoo_weights", TrainingError)
    identity = {"architecture": arch.model_dump(mode="json", by_alias=True)}
    return {"identity": identity, "model": network.state_dict(), "epoch": 0}


def _fingerprint(weights: dict) -> str:
    sums = [float(v.double().sum()) for v in weights.values() if torch.is_tensor(v) and v.is_floating_point()]
    return hashlib.sha256(json.dumps([sorted(weights), sums]).encode()).hexdigest()[:10]


def fine_tune(source_model: dict, cifar: CifarRoot, transfer: dict, transfer_set: dict) -> tuple[dict, pd.DataFrame]:
    """Fine-tune the source network on one CIFAR data set with a new classifier (the trainer of
    the ``train`` pipeline: AMP, DDP, resume and progress alike)."""
    p = transfer_params(transfer, transfer_set)
    fmt = cifar_format(p.dataset)
    arch, weights = checkpoint_contents(source_model, p.use_ema)
    arch = arch.model_copy(
        update={"num_classes": fmt.num_classes, "resolution": p.input_size, "name": f"{arch.name}-{p.dataset}"}
    )
    arch = ArchDescription.model_validate(arch.model_dump(by_alias=True))
    train_tf, eval_tf = cifar_transforms(p.input_size)
    train_data, test_data = cifar.open(p.dataset, True, train_tf), cifar.open(p.dataset, False, eval_tf)
    if p.train_limit is not None:
        train_data = Subset(train_data, range(min(p.train_limit, len(train_data))))
    source = _fingerprint(weights)
    identity = {
        "source": source,
        "data": {"dataset": p.dataset, "train": len(train_data), "test": len(test_data)},
        "trainable": p.trainable,
    }
    job = TrainingJob(
        arch=arch,
        config=p.recipe(),
        train_data=train_data,
        val_data=test_data,
        device=p.device,
        checkpoint_dir=str(Path(resolve(p.checkpoint_dir)) / f"{arch.name}-{source}-seed{p.seed}"),
        resume=p.resume,
        identity=identity,
        initial_weights=weights,
        trainable=p.trainable,
    )
    logger.info(
        "fine-tuning %s on %s (%d training / %d test images at %d px, trainable: %s) for %d epochs",
        arch.name, fmt.title, len(train_data), len(test_data), p.input_size, p.trainable, p.epochs,
    )  # fmt: skip
    state = launch_training(job, p.distributed)
    return state, pd.DataFrame(state["history"])


def summarise_transfer(finetuned_model: dict, transfer: dict, transfer_set: dict) -> TransferMetrics:
    """Top-1/top-5 on the data set's test split after fine-tuning."""
    p = transfer_params(transfer, transfer_set)
    last = finetuned_model["history"][-1]
    arch = finetuned_model["identity"]["architecture"]
    return TransferMetrics(
        dataset=p.dataset,
        model=arch["name"].removesuffix(f"-{p.dataset}"),
        top1=last["val_top1"],
        top5=last["val_top5"],
        epochs=finetuned_model["epoch"],
        input_size=p.input_size,
        trainable=p.trainable,
        train_images=finetuned_model["identity"]["data"]["train"],
        test_images=finetuned_model["identity"]["data"]["test"],
        train_seconds=float(sum(row["seconds"] for row in finetuned_model["history"])),
        data=p.data,
    )


def tabulate_transfer(published: pd.DataFrame, *metrics: TransferMetrics) -> tuple[pd.DataFrame, go.Figure]:
    """One row per model: top-1 per data set (ours), next to the paper's published numbers."""
    ours = pd.DataFrame([m.model_dump() for m in metrics])
    table = ours.pivot_table(index="model", columns="dataset", values="top1").mul(100).round(2)
    table = table.rename(columns={c: f"{c}_top1_percent" for c in table.columns}).reset_index()
    table["source"] = ["this run (demo data)" if (ours["data"] == "demo").all() else "this run"] * len(table)
    reference = published.rename(columns={"architecture": "model"}).assign(source="published (paper, ImageNet-trained)")
    combined = pd.concat([table, reference], ignore_index=True)
    columns = ["model", "source", *[c for c in combined.columns if c.endswith("_top1_percent")]]
    combined = combined[columns]
    figure = transfer_figure(combined)
    return combined, figure
