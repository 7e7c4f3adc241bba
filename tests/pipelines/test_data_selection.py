import json

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from tfnas_kedro.nas.errors import ConfigError
from tfnas_kedro.pipelines.data_selection.nodes import split_selected_classes

from ..data.conftest import write_image
from .conftest import latest_version

TINY = {
    "demo_data": {"num_classes": 8, "train_per_class": 6, "val_per_class": 2, "test_per_class": 2, "image_size": 32},
    "ranking": {"resolution": 64, "batch_size": 16, "probe_folds": 3},
    "selection": {"num_groups": 4},
}


def _load(root, relative):
    path = latest_version(root, relative)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.slow
def test_data_selection_end_to_end_on_a_tiny_demo(kedro_project, run_pipeline):
    run_pipeline("data_selection", params=TINY)
    assert (kedro_project / "data/01_raw/demo/train").is_dir()
    index = _load(kedro_project, "data/02_intermediate/image_index.parquet")
    assert len(index) == 8 * 10 and index["label"].nunique() == 8
    assert index.groupby("split").size().to_dict() == {"test": 16, "train": 48, "val": 16}
    scores = _load(kedro_project, "data/03_primary/image_scores.parquet")
    assert len(scores) == 8 * 6 and scores["method"].eq("linear_probe").all()
    ranking = _load(kedro_project, "data/03_primary/class_ranking.parquet")
    assert ranking["accuracy"].is_monotonic_decreasing
    selection = _load(kedro_project, "data/03_primary/class_selection.parquet")
    assert selection.groupby("group")["selected"].sum().tolist() == [1, 1, 1, 1]
    split = _load(kedro_project, "data/03_primary/search_split.parquet")
    assert split.groupby("split").size().to_dict() == {"arch": 4, "test": 8, "val": 8, "weights": 20}
    test = index.loc[index["split"] == "test", "path"]
    assert set(split.loc[split["split"] == "test", "path"]) <= set(test)  # the demo's own test images
    assert set(split["label"]) == set(selection.loc[selection["selected"], "label"])
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/class_accuracy.json").read_text())
    assert len(figure["data"][0]["x"]) == 8
    assert _load(kedro_project, "data/08_reporting/skipped_images.csv").empty


@pytest.mark.slow
def test_real_image_folder_with_bad_files(kedro_project, run_pipeline, image_tree):
    (image_tree / "train" / "a" / "broken.jpg").write_bytes(b"garbage")
    (image_tree / "train" / "empty").mkdir()
    for c, label in enumerate("abc"):  # two validation images per class: one carved into test
        write_image(image_tree / "val" / label / "1.png", seed=50 + c)
    params = {
        "data_root": str(image_tree),
        "data": {"source": "imagefolder"},
        "ranking": {"resolution": 64, "probe_folds": 2},
        "selection": {"num_groups": 2},
    }
    run_pipeline("data_selection", params=params)
    skipped = _load(kedro_project, "data/08_reporting/skipped_images.csv")
    assert sorted(skipped["reason"].str.split(":").str[0]) == ["empty class folder", "not an image"]
    split = _load(kedro_project, "data/03_primary/search_split.parquet")
    assert split["label"].nunique() == 2
    assert split.groupby("split").size()[["val", "test"]].tolist() == [2, 2]  # no test folder: carved from val
    assert not (kedro_project / "data/01_raw/demo").exists()  # nothing was drawn


def test_the_demo_never_overwrites_real_data(run_pipeline, image_tree):
    with pytest.raises(DatasetError, match="refusing to write generated images into"):
        run_pipeline("data_selection", params={"data_root": str(image_tree), **TINY})
    assert sorted(p.name for p in (image_tree / "train").iterdir()) == ["a", "b", "c"]


def test_missing_data_root_names_it(run_pipeline, tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path / "nowhere")):
        run_pipeline(
            "data_selection", params={"data_root": str(tmp_path / "nowhere"), "data": {"source": "imagefolder"}}
        )


@pytest.mark.parametrize(
    ("selection", "key"),
    [({"test_source": "holdout"}, "selection.test_source"), ({"test_fraction": 1.0}, "selection.test_fraction")],
)
def test_bad_test_split_parameters_name_the_key(selection, key):
    index = pd.DataFrame({"split": ["train"] * 2 + ["val"] * 2, "label": ["a"] * 4, "path": list("wxyz")})
    chosen = pd.DataFrame({"label": ["a"], "selected": [True]})
    with pytest.raises(ConfigError, match=key):
        split_selected_classes(index, chosen, {"num_groups": 1, **selection})


def test_more_groups_than_classes_names_the_parameter_and_the_value_to_set():
    from tfnas_kedro.pipelines.data_selection.nodes import select_classes

    ranking = pd.DataFrame({"label": list("abcde"), "accuracy": [0.9, 0.8, 0.7, 0.6, 0.5], "rank": range(5)})
    with pytest.raises(ConfigError, match=r"selection.num_groups is 10.*at most 5.*selection.num_groups=5"):
        select_classes(ranking, {"num_groups": 10})
    assert select_classes(ranking, {"num_groups": 5})["selected"].all()
