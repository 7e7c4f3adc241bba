import numpy as np
import pandas as pd
import pytest

from tfnas_kedro.data.ranking import imagenet_targets, probe_predictions, rank_classes, select_classes, split_for_search


def _ranking(n_classes: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"label": f"class{c:03d}", "correct": bool(ok)}
        for c in range(n_classes)
        for ok in rng.random(20) < rng.uniform(0.1, 1.0)
    ]
    return rank_classes(pd.DataFrame(rows))


def test_rank_classes_orders_by_accuracy():
    scores = pd.DataFrame({"label": list("aaabbbccc"), "correct": [1, 1, 1, 0, 0, 1, 1, 1, 0]}).astype(
        {"correct": bool}
    )
    table = rank_classes(scores)
    assert table["label"].tolist() == ["a", "c", "b"] and table["rank"].tolist() == [0, 1, 2]
    assert table["accuracy"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3])


@pytest.mark.parametrize(("n_classes", "groups"), [(1000, 100), (30, 10), (31, 7), (10, 10), (5, 1)])
def test_every_group_contributes_exactly_one_class(n_classes, groups):
    selection = select_classes(_ranking(n_classes), groups, seed=3)
    assert selection.groupby("group")["selected"].sum().tolist() == [1] * groups
    sizes = selection.groupby("group").size()
    assert sizes.max() - sizes.min() <= 1  # groups of equal size (up to one)
    # groups are contiguous in difficulty: group g holds ranks before group g + 1
    assert (selection.sort_values("rank")["group"].diff().fillna(0) >= 0).all()


def test_selection_is_reproducible_with_a_seed():
    ranking = _ranking(200)
    first = select_classes(ranking, 20, seed=11)
    assert first.equals(select_classes(ranking, 20, seed=11))
    assert not first["selected"].equals(select_classes(ranking, 20, seed=12)["selected"])


def test_selection_keeps_the_spread_of_difficulty():
    selection = select_classes(_ranking(1000), 100, seed=0)
    chosen = selection[selection["selected"]]
    # one class from each percentile band: the subset spans easy to hard
    assert chosen["rank"].min() < 10 and chosen["rank"].max() >= 990


def test_more_groups_than_classes_is_an_error():
    with pytest.raises(ValueError, match=r"num_groups must be in \[1, 5\]"):
        select_classes(_ranking(5), 6, seed=0)


def _index(n_classes=4, train=50, val=10, test=0) -> pd.DataFrame:
    rows = [
        (split, f"c{c}", f"/x/{split}/c{c}/{i}.jpg")
        for c in range(n_classes)
        for split, n in (("train", train), ("val", val), ("test", test))
        for i in range(n)
    ]
    return pd.DataFrame(rows, columns=["split", "label", "path"])


def test_search_split_proportions_are_stratified_and_disjoint():
    index = _index(train=51)
    selection = select_classes(rank_classes(index.assign(correct=True)), 2, seed=0)
    split = split_for_search(index, selection, arch_fraction=0.2, seed=0)
    chosen = sorted(selection.loc[selection["selected"], "label"])
    assert sorted(split["label"].unique()) == chosen
    counts = split.groupby(["label", "split"]).size().unstack()
    assert (counts["arch"] == 10).all() and (counts["weights"] == 41).all()
    assert (counts["val"] == 5).all() and (counts["test"] == 5).all()  # no test folder: half of val carved
    assert not split["path"].duplicated().any()
    held_out = split["split"].isin(["val", "test"])
    val = index[(index["split"] == "val") & index["label"].isin(chosen)]
    assert set(split.loc[held_out, "path"]) == set(val["path"])
    assert split.groupby("label")["class_index"].first().tolist() == [0, 1]


def test_search_split_is_reproducible_and_seeded():
    index = _index()
    selection = select_classes(rank_classes(index.assign(correct=True)), 4, seed=0)
    a = split_for_search(index, selection, arch_fraction=0.2, seed=1)
    assert a.equals(split_for_search(index, selection, arch_fraction=0.2, seed=1))
    assert not a.equals(split_for_search(index, selection, arch_fraction=0.2, seed=2))


def test_search_split_rejects_classes_too_small_to_split():
    index = _index(train=1)
    selection = select_classes(rank_classes(index.assign(correct=True)), 4, seed=0)
    with pytest.raises(ValueError, match="needs at least 2"):
        split_for_search(index, selection, arch_fraction=0.2, seed=0)


def test_imagenet_label_detection():
    wnids = pd.Series([f"n{i:08d}" for i in range(1000)])
    assert imagenet_targets(wnids.iloc[::-1]).tolist() == list(range(999, -1, -1))
    assert imagenet_targets(pd.Series(["3", "999", "0"])).tolist() == [3, 999, 0]
    assert imagenet_targets(pd.Series(["cat", "dog"])) is None
    assert imagenet_targets(pd.Series(["1000"])) is None
    assert imagenet_targets(wnids.iloc[:10]) is None  # a subset's sorted order is not ImageNet's


def test_probe_predictions_recover_separable_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (4, 16))
    labels = np.repeat(np.arange(4), 25)
    features = centres[labels] + rng.normal(0, 1, (100, 16))
    predicted = probe_predictions(features, labels, folds=5, seed=0)
    assert (predicted == labels).mean() > 0.95
    with pytest.raises(ValueError, match="at least 2 images per class"):
        probe_predictions(features[:5], np.array([0, 0, 1, 1, 2]), folds=5, seed=0)


def _selected(index: pd.DataFrame, groups: int = 2) -> pd.DataFrame:
    return select_classes(rank_classes(index[index["split"] == "train"].assign(correct=True)), groups, seed=0)


def test_test_split_carved_from_val_is_stratified_seeded_and_disjoint_by_path():
    index = _index(val=10)
    selection = _selected(index, 4)
    split = split_for_search(index, selection, arch_fraction=0.2, seed=0, test_source="val", test_fraction=0.3)
    counts = split.groupby(["label", "split"]).size().unstack()
    assert (counts["test"] == 3).all() and (counts["val"] == 7).all()
    parts = {name: set(rows["path"]) for name, rows in split.groupby("split")}
    assert all(not parts[a] & parts[b] for a in parts for b in parts if a < b)
    assert parts["test"] <= set(index.loc[index["split"] == "val", "path"])
    again = split_for_search(index, selection, arch_fraction=0.2, seed=0, test_source="val", test_fraction=0.3)
    other = split_for_search(index, selection, arch_fraction=0.2, seed=1, test_source="val", test_fraction=0.3)
    assert split.equals(again)
    assert set(other.loc[other["split"] == "test", "path"]) != parts["test"]


def test_test_split_comes_from_the_test_folder_when_the_data_set_has_one():
    index = _index(val=4, test=6)
    selection = _selected(index)
    chosen = set(selection.loc[selection["selected"], "label"])
    for source in ("auto", "folder"):
        split = split_for_search(index, selection, arch_fraction=0.2, seed=0, test_source=source)
        wanted = index[(index["split"] == "test") & index["label"].isin(chosen)]
        assert set(split.loc[split["split"] == "test", "path"]) == set(wanted["path"])
        assert (split.groupby(["label", "split"]).size().unstack()["val"] == 4).all()  # val untouched
    carved = split_for_search(index, selection, arch_fraction=0.2, seed=0, test_source="val")
    assert set(carved.loc[carved["split"] == "test", "path"]) <= set(index.loc[index["split"] == "val", "path"])


def test_test_folder_asked_for_but_absent_is_an_error_naming_the_key_and_remedy():
    index = _index()
    with pytest.raises(ValueError, match=r"selection.test_source is folder but the data set has no test split.*val"):
        split_for_search(index, _selected(index), arch_fraction=0.2, seed=0, test_source="folder")


def test_selected_class_without_test_images_is_an_error():
    index = _index(test=3)
    index = index[~((index["split"] == "test") & (index["label"] == "c1"))]
    selection = _selected(index, 4)
    with pytest.raises(ValueError, match=r"class 'c1' has no image in the data set's test split.*test_source: val"):
        split_for_search(index, selection, arch_fraction=0.2, seed=0)


def test_test_fraction_with_a_test_folder_is_an_error_not_ignored():
    index = _index(test=3)
    with pytest.raises(ValueError, match=r"selection.test_fraction=0.3 applies only when .* carved from val"):
        split_for_search(index, _selected(index), arch_fraction=0.2, seed=0, test_fraction=0.3)


@pytest.mark.parametrize(
    ("val", "fraction", "left"),
    [(1, None, "1 validation and 0 test"), (10, 0.01, "10 validation and 0 test"), (4, 0.9, "0 validation and 4 test")],
)
def test_test_fraction_leaving_a_class_without_val_or_test_is_an_error(val, fraction, left):
    index = _index(val=val)
    with pytest.raises(ValueError, match=rf"selection.test_fraction=.* leaves class 'c\d' .*with {left} images"):
        split_for_search(index, _selected(index), arch_fraction=0.2, seed=0, test_fraction=fraction)


def test_an_image_in_two_splits_is_an_error():
    # a list file may name one file in two splits: within the selected classes ...
    index = _index(test=3)
    first_test = index.index[index["split"] == "test"][0]  # class c0
    index.loc[first_test, "path"] = "/x/train/c0/0.jpg"
    with pytest.raises(ValueError, match=r"1 image\(s\) are in two parts of the search split"):
        split_for_search(index, _selected(index, 4), arch_fraction=0.2, seed=0)
    # ... or as a training image of a class that was not selected
    index = _index(test=3)
    selection = _selected(index, 2)
    chosen = selection.loc[selection["selected"], "label"].tolist()
    other = sorted(set(index["label"]) - set(chosen))[0]
    first_test = index.index[(index["split"] == "test") & (index["label"] == chosen[0])][0]
    index.loc[first_test, "path"] = f"/x/train/{other}/0.jpg"
    with pytest.raises(ValueError, match=r"1 test image\(s\) are also training or validation images"):
        split_for_search(index, selection, arch_fraction=0.2, seed=0)
