"""Ranking classes by how well a pretrained classifier recognises them, and the class subset.

docs/method.md section 11: classify every training image, compute per-class top-1, sort the
classes, cut them into groups of equal size and draw one class per group, so that the subset keeps
the full data set's spread of difficulty. Labels that are not ImageNet classes are scored with a
cross-validated linear probe on the pretrained features instead.
"""

from __future__ import annotations

import logging
import re
import time

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from .loaders import IndexedImages, eval_transform
from .pretrained import PretrainedClassifier

logger = logging.getLogger(__name__)

_WNID = re.compile(r"^n\d{8}$")


def imagenet_targets(labels: pd.Series) -> np.ndarray | None:
    """ImageNet class indices of ``labels`` when they are ImageNet classes, else ``None``.

    Integer labels 0..999 are taken as indices; 1000 distinct WordNet ids (``n01440764``) map to
    their sorted position, which is ImageNet's class order.
    """
    values = labels.astype(str)
    if values.str.fullmatch(r"\d+").all() and values.astype(int).between(0, 999).all():
        return values.astype(int).to_numpy()
    wnids = sorted(values.unique())
    if len(wnids) == 1000 and all(_WNID.match(w) for w in wnids):
        return values.map({w: i for i, w in enumerate(wnids)}).to_numpy()
    return None


@torch.inference_mode()
def extract(
    classifier: PretrainedClassifier,
    paths: list[str],
    *,
    resolution: int,
    batch_size: int,
    workers: int,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features and ImageNet logits of every image, batched, with progress in the log."""
    classifier.to(device)
    # channels-last roughly doubles depthwise-conv throughput on CPUs and helps GPUs too
    body = classifier.features.to(memory_format=torch.channels_last)
    dataset = IndexedImages(paths, [0] * len(paths), eval_transform(resolution, classifier.mean, classifier.std))
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda")
    features, logits, done, started, next_report = [], [], 0, time.perf_counter(), 0.1
    for images, _ in loader:
        f = body(images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last))
        features.append(f.float().cpu())
        logits.append(classifier.classifier(f).float().cpu())
        done += len(images)
        if done / len(paths) >= next_report or done == len(paths):
            rate = done / (time.perf_counter() - started)
            logger.info("scored %d/%d images (%.0f%%, %.1f images/s)", done, len(paths), 100 * done / len(paths), rate)
            next_report += 0.1
    return torch.cat(features).numpy(), torch.cat(logits).numpy()


def probe_predictions(features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions of a linear probe (standardised features, logistic regression)."""
    # scikit-learn imported here: it takes 0.7 s, which every kedro command paid on startup
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    smallest = pd.Series(labels).value_counts().min()
    folds = min(folds, int(smallest))
    if folds < 2:
        raise ValueError(f"a cross-validated probe needs at least 2 images per class; one class has {smallest}")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(probe, features, labels, cv=cv)


def score_images(
    images: pd.DataFrame,
    classifier: PretrainedClassifier,
    *,
    labels: str = "auto",
    resolution: int = 224,
    batch_size: int = 64,
    workers: int = 0,
    device: torch.device | None = None,
    probe_folds: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Per image: the classifier's ImageNet guess and whether the image counts as recognised.

    ``labels``: ``imagenet`` (the data set's labels are ImageNet classes: correct = top-1 hit),
    ``probe`` (any other label set: correct = the cross-validated linear probe's prediction), or
    ``auto`` (``imagenet`` when the labels look like ImageNet's).
    """
    if labels not in ("auto", "imagenet", "probe"):
        raise ValueError(f"labels must be auto, imagenet or probe, got {labels!r}")
    targets = imagenet_targets(images["label"]) if labels != "probe" else None
    if labels == "imagenet" and targets is None:
        raise ValueError("labels: imagenet, but the labels are neither ImageNet indices nor its 1000 WordNet ids")
    device = device or torch.device("cpu")
    features, logits = extract(
        classifier,
        images["path"].tolist(),
        resolution=resolution,
        batch_size=batch_size,
        workers=workers,
        device=device,
    )
    probabilities = torch.from_numpy(logits).softmax(1)
    confidence, top1 = probabilities.max(1)
    out = images[["split", "label", "path"]].reset_index(drop=True).copy()
    out["imagenet_top1"] = [classifier.categories[i] for i in top1.tolist()]
    out["confidence"] = confidence.numpy()
    if targets is not None:
        out["method"] = "imagenet_top1"
        out["correct"] = top1.numpy() == targets
    else:
        out["method"] = "linear_probe"
        predicted = probe_predictions(features, out["label"].to_numpy(), probe_folds, seed)
        out["correct"] = predicted == out["label"].to_numpy()
    return out


def rank_classes(scores: pd.DataFrame) -> pd.DataFrame:
    """Per class: images, recognised images, accuracy, rank (0 = easiest), sorted by rank."""
    table = scores.groupby("label", sort=True)["correct"].agg(images="size", correct="sum").reset_index()
    table["accuracy"] = table["correct"] / table["images"]
    # ties broken by label so that the ranking is the same on every machine
    table = table.sort_values(["accuracy", "label"], ascending=[False, True], kind="stable").reset_index(drop=True)
    table["rank"] = np.arange(len(table))
    return table


def select_classes(ranking: pd.DataFrame, num_groups: int, seed: int) -> pd.DataFrame:
    """Cut the ranked classes into ``num_groups`` contiguous groups and draw one class from each."""
    if not 1 <= num_groups <= len(ranking):
        raise ValueError(f"num_groups must be in [1, {len(ranking)}] (the number of ranked classes), got {num_groups}")
    rng = np.random.default_rng(seed)
    table = ranking.sort_values("rank").reset_index(drop=True).copy()
    groups = np.array_split(np.arange(len(table)), num_groups)
    table["group"] = 0
    table["selected"] = False
    for g, members in enumerate(groups):
        table.loc[members, "group"] = g
        table.loc[rng.choice(members), "selected"] = True
    return table


def split_for_search(
    index: pd.DataFrame,
    selection: pd.DataFrame,
    *,
    arch_fraction: float,
    seed: int,
    val_split: str = "val",
    test_source: str = "auto",
    test_fraction: float | None = None,
) -> pd.DataFrame:
    """The selected classes' images: training images split per class into ``weights`` and ``arch``
    (stratified, seeded), ``val`` images kept for evaluation, and a held-out ``test`` part that
    neither the search nor the selection of architectures sees. ``class_index`` follows label order.

    ``test_source``: ``folder`` takes the index's ``test`` images; ``val`` carves ``test_fraction``
    (default 0.5) of each class's ``val`` images into ``test`` (stratified, seeded); ``auto`` is
    ``folder`` when the index has ``test`` images, else ``val``. ``test_fraction`` is an error
    unless the test part is carved from ``val``. No image may be in two parts.
    """
    if not 0.0 < arch_fraction < 1.0:
        raise ValueError(f"arch_fraction must be in (0, 1), got {arch_fraction}")
    source = resolve_test_source(index, test_source, test_fraction)
    fraction = 0.5 if test_fraction is None else test_fraction
    chosen = sorted(selection.loc[selection["selected"], "label"])
    class_index = {label: i for i, label in enumerate(chosen)}
    parts = []
    for i, label in enumerate(chosen):
        train = index[(index["label"] == label) & (index["split"] == "train")].sort_values("path")
        if len(train) < 2:
            raise ValueError(f"class {label!r} has {len(train)} training image(s); the 80/20 split needs at least 2")
        order = np.random.default_rng([seed, i]).permutation(len(train))
        n_arch = min(len(train) - 1, max(1, round(arch_fraction * len(train))))
        split = np.where(np.isin(np.arange(len(train)), order[:n_arch]), "arch", "weights")
        parts.append(train.assign(split=split))
        val = index[(index["label"] == label) & (index["split"] == val_split)]
        if source == "folder":
            parts += _folder_test(index, val, label, test_source)
        else:
            parts.append(_carve_test(val, label, fraction, seed, i))
    table = pd.concat(parts, ignore_index=True)
    table["class_index"] = table["label"].map(class_index).astype(int)
    _check_disjoint(table, index, source, val_split)
    return table[["split", "label", "class_index", "path"]].reset_index(drop=True)


def _folder_test(index: pd.DataFrame, val: pd.DataFrame, label: str, test_source: str) -> list[pd.DataFrame]:
    """A class's ``val`` images, and its test images from the data set's own ``test`` split."""
    test = index[(index["label"] == label) & (index["split"] == "test")]
    if test.empty:
        raise ValueError(
            f"selected class {label!r} has no image in the data set's test split "
            f"(selection.test_source: {test_source}); add its test images, or set "
            "selection.test_source: val to carve the test split from the validation images"
        )
    return [val.assign(split="val"), test.assign(split="test")]


def _carve_test(val: pd.DataFrame, label: str, fraction: float, seed: int, i: int) -> pd.DataFrame:
    """A class's ``val`` images with ``fraction`` of them (seeded) moved to ``test``."""
    val = val.sort_values("path")
    n_test = round(fraction * len(val))
    if not 0 < n_test < len(val):
        raise ValueError(
            f"selection.test_fraction={fraction} leaves class {label!r} ({len(val)} validation image(s)) with "
            f"{len(val) - n_test} validation and {n_test} test images; each needs at least 1: choose another "
            "fraction, or give the class more validation images"
        )
    # a stream of its own (the third key), apart from the weights/arch draw of the same class
    held_out = np.random.default_rng([seed, i, 1]).permutation(len(val))[:n_test]
    return val.assign(split=np.where(np.isin(np.arange(len(val)), held_out), "test", "val"))


def resolve_test_source(index: pd.DataFrame, test_source: str, test_fraction: float | None) -> str:
    """Where the test split comes from: ``folder`` or ``val`` (``auto`` decided by the index);
    an error when the choice cannot be honoured or a setting would go unused."""
    if test_source not in ("auto", "folder", "val"):
        raise ValueError(f"selection.test_source must be auto, folder or val, got {test_source!r}")
    if test_fraction is not None and not 0.0 < test_fraction < 1.0:
        raise ValueError(f"selection.test_fraction must be in (0, 1), got {test_fraction}")
    has_test = bool((index["split"] == "test").any())
    if test_source == "folder" and not has_test:
        raise ValueError(
            "selection.test_source is folder but the data set has no test split (no <root>/test/<class>/ folder, "
            "nor a test list file); add one, or set selection.test_source to val (or auto) to carve the test "
            "split from the validation images"
        )
    source = test_source if test_source != "auto" else ("folder" if has_test else "val")
    if source == "folder" and test_fraction is not None:
        raise ValueError(
            f"selection.test_fraction={test_fraction} applies only when the test split is carved from val, but "
            f"it comes from the data set's test folder (selection.test_source: {test_source}); remove "
            "selection.test_fraction, or set selection.test_source: val"
        )
    return source


def _check_disjoint(table: pd.DataFrame, index: pd.DataFrame, source: str, val_split: str) -> None:
    """No image in two parts of the search split; a test split from the data set's own folder
    shares no file with its training or validation images of any class (a list file may name one
    file in two splits)."""
    duplicated = table[table["path"].duplicated(keep=False)]
    if not duplicated.empty:
        example = duplicated.sort_values("path").head(4)[["split", "label", "path"]].to_dict("records")
        raise ValueError(f"{duplicated['path'].nunique()} image(s) are in two parts of the search split: {example}")
    if source == "folder":
        seen = set(index.loc[index["split"].isin(["train", val_split]), "path"])
        leaked = table.loc[(table["split"] == "test") & table["path"].isin(seen), "path"]
        if not leaked.empty:
            raise ValueError(
                f"{len(leaked)} test image(s) are also training or validation images of the data set, "
                f"e.g. {leaked.iloc[0]}; the test split must be held out"
            )
