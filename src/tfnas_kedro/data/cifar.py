"""CIFAR-10 and CIFAR-100 in torchvision's on-disk format.

Real data is downloaded (and checksummed) by torchvision into a root, or read from a root that
already holds it. :func:`write_cifar` writes small sets in exactly that format (pickled batches of
row-major RGB planes), so the offline demo and the tests go through the same reading code as the
real files. Reading checks that every file is present but not torchvision's MD5 sums, which only
the original archives match.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CifarFormat:
    title: str
    reader: str  # the name of torchvision's reader class (torchvision.datasets)
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int

    @property
    def files(self) -> list[str]:
        return [*self.train_files, self.test_file, self.meta_file]


FORMATS = {
    "cifar10": CifarFormat(
        "CIFAR-10", "CIFAR10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
        "batches.meta", "labels", "label_names", 10,
    ),
    "cifar100": CifarFormat(
        "CIFAR-100", "CIFAR100", "cifar-100-python", ("train",), "test", "meta", "fine_labels", "fine_label_names", 100
    ),
}  # fmt: skip


def cifar_format(name: str) -> CifarFormat:
    if name not in FORMATS:
        raise ValueError(f"unknown CIFAR data set {name!r} (known: {sorted(FORMATS)})")
    return FORMATS[name]


class _PresentFiles:
    """torchvision's readers with the MD5 checks replaced by a check that the files exist."""

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / name).exists() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as stream:
            meta = pickle.load(stream, encoding="latin1")
        self.classes = meta[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


@cache
def _reader(name: str, present_files: bool) -> type:
    """torchvision's reader of ``name``, imported here (importing torchvision takes about 1.4 s,
    which every ``kedro`` command paid on startup); with ``present_files``, its MD5 checks
    replaced by :class:`_PresentFiles`'s."""
    from torchvision import datasets

    base = getattr(datasets, cifar_format(name).reader)
    return type(f"Present{base.__name__}", (_PresentFiles, base), {}) if present_files else base


def missing_files(root: str | Path, name: str) -> list[str]:
    fmt = cifar_format(name)
    return [f for f in fmt.files if not (Path(root) / fmt.folder / f).exists()]


def download_cifar(root: str | Path, name: str) -> None:
    """Download (and verify) the original archive into ``root`` with torchvision (needs internet)."""
    _reader(name, present_files=False)(str(root), train=True, download=True)


def open_cifar(root: str | Path, name: str, train: bool, transform=None):
    """The training or test split of ``name`` under ``root`` as a torch Dataset of (image, label)."""
    missing = missing_files(root, name)
    if missing:
        fmt = cifar_format(name)
        raise FileNotFoundError(f"{fmt.title} not found under {Path(root) / fmt.folder} (missing {', '.join(missing)})")
    return _reader(name, present_files=True)(str(root), train=train, transform=transform, download=False)


def write_cifar(
    root: str | Path,
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    class_names: list[str],
) -> Path:
    """Write ``(images uint8 N x 32 x 32 x 3, labels)`` per split in ``name``'s on-disk format."""
    fmt = cifar_format(name)
    if len(class_names) != fmt.num_classes:
        raise ValueError(f"{fmt.title} has {fmt.num_classes} classes, got {len(class_names)} names")
    folder = Path(root) / fmt.folder
    folder.mkdir(parents=True, exist_ok=True)

    def batch(images: np.ndarray, labels: np.ndarray, label: str) -> dict:
        if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
            raise ValueError(f"images must be uint8 N x 32 x 32 x 3, got {images.dtype} {images.shape}")
        rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # R plane, G plane, B plane
        entry = {"batch_label": label, "data": rows, fmt.label_key: [int(y) for y in labels]}
        entry["filenames"] = [f"{i:06d}.png" for i in range(len(images))]
        if name == "cifar100":
            entry["coarse_labels"] = [int(y) // 5 for y in labels]  # CIFAR-100's 20 superclasses of 5
        return entry

    images, labels = train
    parts = np.array_split(np.arange(len(images)), len(fmt.train_files))
    for filename, part in zip(fmt.train_files, parts, strict=True):
        _dump(folder / filename, batch(images[part], labels[part], f"training batch {filename}"))
    _dump(folder / fmt.test_file, batch(*test, "testing batch"))
    meta = {fmt.names_key: list(class_names)}
    if name == "cifar100":
        meta["coarse_label_names"] = [f"superclass_{i}" for i in range(20)]
    _dump(folder / fmt.meta_file, meta)
    return folder


def _dump(path: Path, value: dict) -> None:
    with open(path, "wb") as stream:
        pickle.dump(value, stream, protocol=2)
