import numpy as np
import pandas as pd
import pytest
import torch

from tfnas_kedro.data.loaders import make_loader

from .conftest import split_table


@pytest.fixture
def table(tmp_path) -> pd.DataFrame:
    return split_table(tmp_path, {"weights": 6, "arch": 2, "val": 3}, ("L", "RGBA"), size=(50, 40))


def test_training_loader_augments_shuffles_with_a_seed(table):
    loader = make_loader(table, "weights", input_size=32, batch_size=4, seed=3)
    images, targets = next(iter(loader))
    assert images.shape == (4, 3, 32, 32) and targets.dtype == torch.int64
    again = [t.tolist() for _, t in make_loader(table, "weights", input_size=32, batch_size=4, seed=3)]
    assert [t.tolist() for _, t in loader] == again
    assert loader.drop_last  # full batches only while training


def test_eval_loader_is_deterministic_and_keeps_order(table):
    loader = make_loader(table, "val", input_size=24, batch_size=2)
    first = torch.cat([x for x, _ in loader])
    second = torch.cat([x for x, _ in loader])
    assert first.shape == (3, 3, 24, 24) and torch.equal(first, second)
    assert torch.cat([t for _, t in loader]).tolist() == table.loc[table["split"] == "val", "class_index"].tolist()


def test_unknown_split_is_an_error(table):
    with pytest.raises(ValueError, match=r"no images in split 'test' \(splits present: \['arch', 'val', 'weights'\]\)"):
        make_loader(table, "test", input_size=24, batch_size=2)


def test_an_unshuffled_loader_mixes_the_classes_in_every_batch():
    """A split stored class by class: batches of one class each would bias batch statistics."""
    from tfnas_kedro.data.loaders import interleave_classes

    rows = pd.DataFrame(
        {"split": "val", "class_index": np.repeat(np.arange(4), 6), "path": [f"{i}" for i in range(24)]}
    )
    mixed = interleave_classes(rows)
    assert sorted(mixed["path"]) == sorted(rows["path"])  # every image once
    for start in range(0, 24, 4):
        assert sorted(mixed["class_index"].iloc[start : start + 4]) == [0, 1, 2, 3]
