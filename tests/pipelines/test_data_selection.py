import json

import pandas as pd
import pytest
from kedro.io.core import DatasetError

from .conftest import latest_version

TINY = {
    "demo_data": {"num_classes": 8, "train_per_class": 6, "val_per_class": 2, "image_size": 32},
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
    assert len(index) == 8 * 8 and index["label"].nunique() == 8
    scores = _load(kedro_project, "data/03_primary/image_scores.parquet")
    assert len(scores) == 8 * 6 and scores["method"].eq("linear_probe").all()
    ranking = _load(kedro_project, "data/03_primary/class_ranking.parquet")
    assert ranking["accuracy"].is_monotonic_decreasing
    selection = _load(kedro_project, "data/03_primary/class_selection.parquet")
    assert selection.groupby("group")["selected"].sum().tolist() == [1, 1, 1, 1]
    split = _load(kedro_project, "data/03_primary/search_split.parquet")
    assert split.groupby("split").size().to_dict() == {"arch": 4, "val": 8, "weights": 20}
    assert set(split["label"]) == set(selection.loc[selection["selected"], "label"])
    figure = json.loads(latest_version(kedro_project, "data/08_reporting/class_accuracy.json").read_text())
    assert len(figure["data"][0]["x"]) == 8
    assert _load(kedro_project, "data/08_reporting/skipped_images.csv").empty


@pytest.mark.slow
def test_real_image_folder_with_bad_files(kedro_project, run_pipeline, image_tree):
    (image_tree / "train" / "a" / "broken.jpg").write_bytes(b"garbage")
    (image_tree / "train" / "empty").mkdir()
    params = {
        "data_root": str(image_tree),
        "data": {"source": "imagefolder"},
        "ranking": {"resolution": 64, "probe_folds": 2},
        "selection": {"num_groups": 2},
    }
    run_pipeline("data_selection", params=params)
    skipped = _load(kedro_project, "data/08_reporting/skipped_images.csv")
    assert sorted(skipped["reason"].str.split(":").str[0]) == ["empty class folder", "not an image"]
    assert _load(kedro_project, "data/03_primary/search_split.parquet")["label"].nunique() == 2
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
