import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from tfnas_kedro.data.in_memory import (
    InMemoryBatches,
    centre_crops,
    decode_images,
    in_memory_loader,
    random_resized_crops,
)
from tfnas_kedro.data.loaders import IMAGENET_MEAN, IMAGENET_STD, make_loader

from .conftest import split_table


@pytest.fixture
def table(tmp_path) -> pd.DataFrame:
    return split_table(tmp_path, {"weights": 8, "arch": 4, "val": 3}, ("RGB", "RGBA"), size=(40, 40))


def _unnormalise(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)


def test_images_are_decoded_once_as_square_uint8(table):
    paths = table.loc[table["split"] == "val", "path"].tolist()
    images = decode_images(paths, 24)
    assert images.shape == (3, 3, 24, 24) and images.dtype == torch.uint8


def test_a_crop_of_the_whole_image_without_flip_is_the_image():
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    x = random_resized_crops(images, 16, torch.Generator(), scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
    assert torch.allclose(_unnormalise(x) * 255, images.float(), atol=1e-3)


def test_flip_and_crop_follow_the_generator():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8).to(torch.uint8)
    always = random_resized_crops(images, 8, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    again = random_resized_crops(images, 8, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.equal(always, again)
    flipped = [torch.allclose(_unnormalise(always[i]) * 255, images[i].float().flip(-1), atol=1e-3) for i in range(2)]
    kept = [torch.allclose(_unnormalise(always[i]) * 255, images[i].float(), atol=1e-3) for i in range(2)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    small = random_resized_crops(images, 8, torch.Generator().manual_seed(1), scale=(0.1, 0.2))
    assert small.shape == (2, 3, 8, 8) and not torch.equal(small, always)


def test_evaluation_batches_are_centre_crops_and_equal_every_epoch(table):
    batches = in_memory_loader(table, "arch", input_size=16, batch_size=2, shuffle=True, augment=False)
    first = {int(i): x for x, idx in _indexed(batches) for i, x in zip(idx, x, strict=True)}
    second = {int(i): x for x, idx in _indexed(batches) for i, x in zip(idx, x, strict=True)}
    assert first.keys() == second.keys() == set(range(4))
    assert all(torch.equal(first[i], second[i]) for i in first)
    stored = decode_images(table.loc[table["split"] == "arch", "path"].tolist(), round(16 / 0.875))
    assert torch.allclose(torch.stack([first[i] for i in range(4)]), centre_crops(stored, 16))


def _indexed(batches: InMemoryBatches):
    """Batches with the row number of each image (targets replaced by their positions)."""
    batches.targets = torch.arange(len(batches.targets))
    yield from batches


def test_training_batches_augment_shuffle_and_replay_with_a_seed(table):
    batches = in_memory_loader(table, "weights", input_size=16, batch_size=4, seed=3)
    assert len(batches) == 2 and batches.augment and batches.shuffle
    one = [(x.clone(), y.clone()) for x, y in batches]
    two = [(x.clone(), y.clone()) for x, y in batches]
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(one, two, strict=True))  # new crops each epoch
    batches.generator.manual_seed(3)
    replay = [(x.clone(), y.clone()) for x, y in batches]
    batches.generator.manual_seed(3)
    again = list(batches)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(replay, again, strict=True))


def test_channels_last_batches(table):
    batches = in_memory_loader(
        table, "val", input_size=16, batch_size=2, memory_format=torch.channels_last, augment=False, shuffle=False
    )
    x, _ = next(iter(batches))
    assert x.is_contiguous(memory_format=torch.channels_last) and len(batches) == 2  # 3 images, last batch kept


def test_file_loader_architecture_batches_are_not_augmented(table):
    loader = make_loader(table, "arch", input_size=16, batch_size=4, shuffle=True, augment=False, seed=1)
    first, second = next(iter(loader)), next(iter(loader))
    order_first, order_second = first[1].tolist(), second[1].tolist()
    assert sorted(order_first) == sorted(order_second)
    # every image comes out the same however often it is drawn: sums per image are order-free
    sums = sorted(first[0].sum((1, 2, 3)).tolist()), sorted(second[0].sum((1, 2, 3)).tolist())
    assert sums[0] == pytest.approx(sums[1])


def test_mismatched_images_and_targets_are_refused():
    with pytest.raises(ValueError, match="2 images but 3 targets"):
        InMemoryBatches(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), [0, 1, 2], input_size=4, batch_size=1,
                        augment=False, shuffle=False)  # fmt: skip


def test_centre_crop_matches_the_file_loader(table):
    """The in-memory evaluation crop is the file loader's evaluation transform, up to resampling."""
    rows = table[table["split"] == "val"]
    from_files = torch.cat([x for x, _ in make_loader(table, "val", input_size=16, batch_size=8)])
    in_memory = centre_crops(decode_images(rows["path"].tolist(), round(16 / 0.875)), 16)
    assert F.l1_loss(in_memory, from_files) < 0.05
