import pytest
import torch
from kedro.io.core import DatasetError

from tfnas_kedro.data.images import inspect_images, read_list_files, scan_image_folder
from tfnas_kedro.data.loaders import IndexedImages, eval_transform
from tfnas_kedro.datasets import ImageFolderDataset

from .conftest import write_image


def test_scan_finds_every_file(image_tree):
    tree = scan_image_folder(image_tree, ["train", "val"])
    assert len(tree.files) == 12 and set(tree.files["label"]) == {"a", "b", "c"}
    assert tree.empty_classes == []


def test_missing_root_and_split_name_the_path(tmp_path, image_tree):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        scan_image_folder(tmp_path / "nowhere", ["train"])
    with pytest.raises(FileNotFoundError, match=r"split folder .*images/test does not exist"):
        scan_image_folder(image_tree, ["train", "test"])


def test_empty_class_folder_is_skipped_and_reported_or_an_error(image_tree):
    (image_tree / "train" / "d").mkdir()
    tree = scan_image_folder(image_tree, ["train", "val"])
    index, skipped = inspect_images(tree, empty_classes="skip")
    assert "d" not in set(index["label"])
    assert skipped.loc[skipped["label"] == "d", "reason"].tolist() == ["empty class folder"]
    with pytest.raises(ValueError, match=r"class folder\(s\) without images: .*train/d"):
        inspect_images(tree, empty_classes="error")


def test_bad_files_are_skipped_counted_and_listed(image_tree):
    good = write_image(image_tree / "train" / "a" / "big.jpg", size=(200, 200), seed=5)
    (image_tree / "train" / "a" / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    (image_tree / "train" / "b" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    (image_tree / "train" / "c" / "notes.txt").write_text("not an image")
    index, skipped = inspect_images(scan_image_folder(image_tree, ["train", "val"]))
    reasons = dict(zip(skipped["path"].str.rsplit("/", n=1).str[-1], skipped["reason"], strict=True))
    assert set(reasons) == {"truncated.jpg", "corrupt.jpg", "notes.txt"}
    assert reasons["notes.txt"] == "not an image"
    assert reasons["truncated.jpg"].startswith("unreadable") and "truncated" in reasons["truncated.jpg"]
    assert len(index) == 13 and "big.jpg" in " ".join(index["path"])


def test_header_verification_still_rejects_non_images(image_tree):
    # `header` only parses headers (fast on ImageNet); `full` decodes and also catches truncation
    good = write_image(image_tree / "train" / "a" / "big.jpg", size=(200, 200), seed=5)
    (image_tree / "train" / "a" / "truncated.jpg").write_bytes(good.read_bytes()[:-200])
    (image_tree / "train" / "c" / "notes.txt").write_text("not an image")
    tree = scan_image_folder(image_tree, ["train"])
    _, header = inspect_images(tree, verify="header")
    _, full = inspect_images(tree, verify="full")
    assert header["path"].str.endswith("notes.txt").tolist() == [True]
    assert sorted(full["path"].str.rsplit("/", n=1).str[-1]) == ["notes.txt", "truncated.jpg"]


def test_a_class_whose_images_are_all_unreadable_counts_as_empty(image_tree):
    for path in (image_tree / "val" / "c").iterdir():
        path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"\['c'\] of split 'val' have no readable image"):
        inspect_images(scan_image_folder(image_tree, ["train", "val"]), empty_classes="error")


def test_colour_modes_are_recorded_and_converted_to_rgb(image_tree):
    index, _ = inspect_images(scan_image_folder(image_tree, ["train", "val"]))
    assert {"RGB", "L", "RGBA", "CMYK"} <= set(index["mode"])
    dataset = IndexedImages(index["path"], [0] * len(index), eval_transform(24))
    for i in range(len(dataset)):
        image, _ = dataset[i]
        assert image.shape == (3, 24, 24) and image.dtype == torch.float32


def test_list_files(tmp_path, image_tree):
    (image_tree / "train.txt").write_text("# path label\ntrain/a/0.jpg cat\ntrain/b/0.png dog\n\n")
    tree = read_list_files(image_tree, {"train": "train.txt"})
    assert tree.files["label"].tolist() == ["cat", "dog"] and tree.files["split"].eq("train").all()
    (image_tree / "bad.txt").write_text("train/a/0.jpg\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected '<path> <label>'"):
        read_list_files(image_tree, {"train": "bad.txt"})
    with pytest.raises(FileNotFoundError, match="list file for split 'val' not found"):
        read_list_files(image_tree, {"val": "missing.txt"})


def test_optional_test_split_is_read_when_present_and_passed_over_when_absent(image_tree):
    without = scan_image_folder(image_tree, ["train", "val"], optional_splits=("test",))
    assert set(without.files["split"]) == {"train", "val"} and len(without.files) == 12
    write_image(image_tree / "test" / "a" / "0.jpg", seed=99)
    with_test = scan_image_folder(image_tree, ["train", "val"], optional_splits=("test",))
    assert with_test.files.loc[with_test.files["split"] == "test", "label"].tolist() == ["a"]


def test_image_folder_dataset_reads_a_test_folder_by_default_and_works_without_one(image_tree):
    assert set(ImageFolderDataset(path=str(image_tree)).load().files["split"]) == {"train", "val"}
    write_image(image_tree / "test" / "b" / "0.jpg", seed=98)
    assert set(ImageFolderDataset(path=str(image_tree)).load().files["split"]) == {"train", "val", "test"}
    ignored = ImageFolderDataset(path=str(image_tree), splits=["train", "val"], optional_splits=[])
    assert set(ignored.load().files["split"]) == {"train", "val"}
    with pytest.raises(DatasetError, match="optional_splits applies to layout 'imagefolder'"):
        ImageFolderDataset(path=str(image_tree), layout="list", list_files={"train": "t.txt"}, optional_splits=["test"])
    with pytest.raises(DatasetError, match=r"\['test'\] are listed in both splits and optional_splits"):
        ImageFolderDataset(path=str(image_tree), splits=["train", "test"], optional_splits=["test"])
