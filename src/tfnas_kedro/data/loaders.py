"""torch Datasets and DataLoaders over the image tables the data pipeline writes."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from PIL import Image
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from tfnas_kedro.nas.parallel import ONE_PROCESS, Ranks

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _transforms():
    """torchvision's transforms, imported when a transform is built: importing torchvision takes
    about 1.4 s here, which every ``kedro`` command (``registry list``, ``viz``) paid on startup."""
    from torchvision.transforms import v2

    return v2


class IndexedImages(Dataset):
    """Images by path with integer targets; every image is converted to RGB (grayscale, CMYK, RGBA)."""

    def __init__(self, paths: Sequence[str], targets: Sequence[int], transform):
        if len(paths) != len(targets):
            raise ValueError(f"{len(paths)} paths but {len(targets)} targets")
        self.paths, self.targets, self.transform = list(paths), [int(t) for t in targets], transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[i]) as image:
            return self.transform(image.convert("RGB")), self.targets[i]


def train_transform(
    size: int, color_jitter: float = 0.0, mean=IMAGENET_MEAN, std=IMAGENET_STD, min_scale: float = 0.08
):
    """The paper's augmentation: random-resized crop (area share ``min_scale``..1) and horizontal
    flip (optional colour jitter)."""
    T = _transforms()
    steps = [T.ToImage(), T.RandomResizedCrop(size, scale=(min_scale, 1.0), antialias=True), T.RandomHorizontalFlip()]
    if color_jitter:
        steps.append(T.ColorJitter(color_jitter, color_jitter, color_jitter))
    return T.Compose([*steps, T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)])


def eval_transform(size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_fraction: float = 0.875):
    """Resize the shorter side to ``size / crop_fraction``, then take the centre ``size x size``."""
    T = _transforms()
    return T.Compose(
        [
            T.ToImage(),
            T.Resize(round(size / crop_fraction), antialias=True),
            T.CenterCrop(size),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(mean, std),
        ]
    )


def make_loader(
    table: pd.DataFrame,
    split: str,
    *,
    input_size: int,
    batch_size: int,
    workers: int = 0,
    shuffle: bool | None = None,
    augment: bool | None = None,
    color_jitter: float = 0.0,
    min_scale: float = 0.08,
    seed: int = 0,
    drop_last: bool | None = None,
    ranks: Ranks = ONE_PROCESS,
) -> DataLoader:
    """A loader over the rows of ``table`` (columns ``path``, ``class_index``, ``split``) in ``split``.

    By default every split but ``val`` is shuffled with a seeded generator and augmented
    (random-resized crop from ``min_scale`` of the area, flip); ``augment=False`` resizes and
    centre-crops instead (the evaluation transform), whether shuffled or not. Augmented loaders
    keep full batches only. ``ranks``: with several data-parallel processes each loads its share of
    every (global) batch of the same order (each process draws its own crops).
    """
    shuffle = split != "val" if shuffle is None else shuffle
    augment = split != "val" if augment is None else augment
    rows = split_rows(table, split) if shuffle else interleave_classes(split_rows(table, split))
    if augment:
        transform = train_transform(input_size, color_jitter, min_scale=min_scale)
    else:
        transform = eval_transform(input_size)
    dataset = IndexedImages(rows["path"].tolist(), rows["class_index"].tolist(), transform)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    drop_last = augment and len(dataset) > batch_size if drop_last is None else drop_last
    common = {"num_workers": workers, "persistent_workers": workers > 0, "pin_memory": torch.cuda.is_available()}
    if ranks.parallel:
        order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        batches = ShareOfBatches(BatchSampler(order, batch_size, drop_last), ranks)
        return DataLoader(dataset, batch_sampler=batches, generator=generator, **common)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last, **common
    )


class ShareOfBatches:
    """This process's share of each batch of ``batches`` (a batch sampler over the whole data set)."""

    def __init__(self, batches: BatchSampler, ranks: Ranks):
        self.batches, self.ranks = batches, ranks

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            yield batch[self.ranks.share(len(batch))]


def split_rows(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split, or an error naming the splits there are."""
    rows = table[table["split"] == split]
    if rows.empty:
        raise ValueError(f"no images in split {split!r} (splits present: {sorted(table['split'].unique())})")
    return rows


def _labelled_index(index: pd.DataFrame) -> pd.DataFrame:
    """The whole data set's index with ``class_index`` from its labels in sorted order."""
    labels = sorted(index["label"].unique())
    return index.assign(class_index=index["label"].map({label: i for i, label in enumerate(labels)}))


def training_rows(split: pd.DataFrame, index: pd.DataFrame, data: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and validation rows (``path``, ``class_index``, ``label``) of the chosen data
    (``params:train.data``): ``selected``, the search's classes (its weight and architecture
    images train), or the whole data set's ``index``."""
    if data == "selected":
        return split[split["split"].isin(["weights", "arch"])], split[split["split"] == "val"]
    index = _labelled_index(index)
    return index[index["split"] == "train"], index[index["split"] == "val"]


def held_out_rows(split: pd.DataFrame, index: pd.DataFrame, data: str) -> pd.DataFrame:
    """The held-out test rows of the chosen data, labelled as :func:`training_rows` labels them."""
    if data == "selected":
        return split[split["split"] == "test"]
    index = _labelled_index(index)
    return index[index["split"] == "test"]


def interleave_classes(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` in an order that deals the classes round-robin (first image of every class, then
    the second, ...): every batch of an unshuffled loader then mixes the classes. A split stored
    class by class gives batches of 3-4 classes, and a network scored with batch statistics (the
    search's supernet) read 0.40 top-1 on such batches where it read 0.67 on mixed ones."""
    within = rows.groupby("class_index", sort=False).cumcount()
    return (
        rows.assign(_within=within.to_numpy())
        .sort_values(["_within", "class_index"], kind="stable")
        .drop(columns="_within")
    )


def cifar_transforms(size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Training and evaluation transforms for 32x32 CIFAR images resized to ``size``: the standard
    CIFAR augmentation (padded random crop, flip) at the new size; evaluation only resizes."""
    T = _transforms()
    final = [T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]
    train = T.Compose(
        [T.ToImage(), T.Resize(size, antialias=True), T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()]
        + final
    )
    return train, T.Compose([T.ToImage(), T.Resize(size, antialias=True), *final])
