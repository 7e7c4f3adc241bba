"""Decoded images held in memory as one uint8 tensor, augmented a whole batch at a time.

For data sets that fit in memory (the demo's 500 images take 6 MB), decoding JPEG files and
running per-image PIL transforms every step costs more than the small networks being trained. Here
every image is decoded once, stored as a square uint8 tensor on the training device, and each
batch is cropped, resized and flipped in one ``grid_sample`` call (random-resized crop as in
:func:`~.loaders.train_transform`), so a step does no Python work per image. Evaluation batches
(the architecture split and validation) are resized and centre-cropped once, up front.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from tfnas_kedro.nas.parallel import ONE_PROCESS, Ranks

from .loaders import IMAGENET_MEAN, IMAGENET_STD, interleave_classes, split_rows

CROP_FRACTION = 0.875  # evaluation: resize to size / 0.875, take the centre size x size (as eval_transform)


def decode_images(paths: Sequence[str], size: int) -> torch.Tensor:
    """Every image as RGB, its shorter side resized to ``size`` and centre-cropped square:
    a ``(N, 3, size, size)`` uint8 tensor."""
    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            scale = size / min(image.size)
            w, h = max(size, round(image.width * scale)), max(size, round(image.height * scale))
            image = image.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=None)
            left, top = (w - size) // 2, (h - size) // 2
            image = image.crop((left, top, left + size, top + size))
        out[i] = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)
    return out


def _normalise(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def centre_crops(images: torch.Tensor, size: int) -> torch.Tensor:
    """The evaluation transform on a batch: resize to ``size / 0.875``, take the centre
    ``size x size``, normalise. Returns float32."""
    resized = round(size / CROP_FRACTION)
    x = images.float()
    if x.shape[-1] != resized:
        x = F.interpolate(x, size=(resized, resized), mode="bilinear", antialias=True, align_corners=False)
    offset = (resized - size) // 2
    x = x[:, :, offset : offset + size, offset : offset + size].clamp(0, 255)
    return _normalise(x)


def random_resized_crops(
    images: torch.Tensor,
    size: int,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
    keep: slice = slice(None),
) -> torch.Tensor:
    """Random-resized crop (area share in ``scale``, aspect ratio in ``ratio``) and horizontal flip
    of every image of a batch, in one bilinear ``grid_sample``; normalised float32.

    The random numbers come from ``generator`` (on the CPU), so a seeded epoch replays exactly on any
    device. ``keep``: crop only these images of the batch, drawing the numbers of all (a process's
    share of a global batch is cropped as the whole batch would be)."""
    u = torch.rand((images.shape[0], 5), generator=generator)[keep]
    images = images[keep]
    n = images.shape[0]
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_ratio = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    aspect = torch.exp(log_ratio)
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the image side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    centre_x = (1.0 - width) * (2 * u[:, 2] - 1)  # in grid units (-1..1): the crop stays inside
    centre_y = (1.0 - height) * (2 * u[:, 3] - 1)
    mirror = torch.where((u[:, 4] < 0.5) & flip, -1.0, 1.0)
    theta = torch.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 2] = width * mirror, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    theta = theta.to(images.device)
    grid = F.affine_grid(theta, [n, 3, size, size], align_corners=False)
    x = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return _normalise(x)


class InMemoryBatches:
    """Batches of ``(images, targets)`` already on ``device``, drawn from tensors in memory.

    ``augment``: a random-resized crop and flip of the stored images per batch (training);
    otherwise the evaluation crop, computed once. ``shuffle`` draws the order from ``generator``
    (re-seeded by the caller per epoch, like a DataLoader's); ``drop_last`` keeps full batches.
    ``ranks``: with several data-parallel processes each yields its share of every (global) batch,
    the same order and crops as one process.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: Sequence[int] | torch.Tensor,
        *,
        input_size: int,
        batch_size: int,
        augment: bool,
        shuffle: bool,
        device: torch.device | str = "cpu",
        min_scale: float = 0.08,
        seed: int = 0,
        drop_last: bool | None = None,
        memory_format: torch.memory_format = torch.contiguous_format,
        ranks: Ranks = ONE_PROCESS,
    ):
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        device = torch.device(device)
        self.images = images.to(device)
        self.targets = torch.as_tensor(targets, dtype=torch.long).to(device)
        self.input_size, self.batch_size = input_size, batch_size
        self.augment, self.shuffle, self.min_scale = augment, shuffle, min_scale
        self.drop_last = (augment and len(images) > batch_size) if drop_last is None else drop_last
        self.memory_format, self.ranks = memory_format, ranks
        self.generator = torch.Generator().manual_seed(seed)
        self.fixed = None if augment else centre_crops(self.images, input_size)

    def __len__(self) -> int:
        n = len(self.targets)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.targets)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.images.device)
        for b in range(len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            share = self.ranks.share(len(index))
            if self.augment:
                x = random_resized_crops(
                    self.images[index], self.input_size, self.generator, scale=(self.min_scale, 1.0), keep=share
                )
            else:
                x = self.fixed[index[share]]
            yield x.contiguous(memory_format=self.memory_format), self.targets[index[share]]


def in_memory_loader(
    table,
    split: str,
    *,
    input_size: int,
    batch_size: int,
    device: torch.device | str = "cpu",
    shuffle: bool | None = None,
    augment: bool | None = None,
    min_scale: float = 0.08,
    seed: int = 0,
    memory_format: torch.memory_format = torch.contiguous_format,
    ranks: Ranks = ONE_PROCESS,
) -> InMemoryBatches:
    """:func:`~.loaders.make_loader`'s counterpart for data held in memory: the rows of ``split``
    decoded once at ``input_size / 0.875`` (the evaluation transform's resize), same defaults
    (every split but ``val`` shuffled and augmented)."""
    shuffle = split != "val" if shuffle is None else shuffle
    rows = split_rows(table, split) if shuffle else interleave_classes(split_rows(table, split))
    images = decode_images(rows["path"].tolist(), round(input_size / CROP_FRACTION))
    return InMemoryBatches(
        images,
        rows["class_index"].tolist(),
        input_size=input_size,
        batch_size=batch_size,
        augment=split != "val" if augment is None else augment,
        shuffle=shuffle,
        device=device,
        min_scale=min_scale,
        seed=seed,
        memory_format=memory_format,
        ranks=ranks,
    )
