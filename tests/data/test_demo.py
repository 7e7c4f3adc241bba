import hashlib

import numpy as np

from tfnas_kedro.data.demo import class_names, generate_demo_images


def test_demo_is_deterministic_and_seeded():
    a = generate_demo_images(4, 3, 1, 32, seed=0)
    b = generate_demo_images(4, 3, 1, 32, seed=0)
    c = generate_demo_images(4, 3, 1, 32, seed=1)
    assert list(a) == list(b)
    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    assert not all(np.array_equal(np.asarray(a[k]), np.asarray(c[k])) for k in a)


def test_demo_layout_and_sizes():
    images = generate_demo_images(6, 5, 2, 48, seed=0)
    assert len(images) == 6 * 7
    names = class_names(6)
    assert len(set(names)) == 6
    assert {k.split("/")[1] for k in images} == set(names)
    assert sum(k.startswith("val/") for k in images) == 12
    assert all(im.size == (48, 48) and im.mode == "RGB" for im in images.values())


def test_changing_one_split_leaves_the_other_alone():
    few = generate_demo_images(3, 2, 1, 32, seed=0)
    more = generate_demo_images(3, 4, 1, 32, seed=0)
    assert all(np.array_equal(np.asarray(few[k]), np.asarray(more[k])) for k in few)


def _pixels(images: dict, split: str) -> dict[str, str]:
    return {k: hashlib.sha256(np.asarray(im).tobytes()).hexdigest() for k, im in images.items() if k.startswith(split)}


def test_demo_draws_the_test_split_with_the_given_count_and_leaves_train_and_val_alone():
    without = generate_demo_images(4, 3, 2, 32, seed=0)
    images = generate_demo_images(4, 3, 2, 32, seed=0, test_per_class=5)
    tests = [k for k in images if k.startswith("test/")]
    assert len(tests) == 4 * 5 and {k.split("/")[1] for k in tests} == set(class_names(4))
    assert set(images) - set(tests) == set(without)
    assert all(np.array_equal(np.asarray(without[k]), np.asarray(images[k])) for k in without)
    assert not any(k.startswith("test/") for k in without)  # the default draws no test split


def test_demo_test_images_differ_in_content_from_train_and_val():
    images = generate_demo_images(3, 10, 5, 32, seed=0, test_per_class=10)
    test = set(_pixels(images, "test/").values())
    assert len(test) == 30  # no two test images alike either
    assert not test & set(_pixels(images, "train/").values())
    assert not test & set(_pixels(images, "val/").values())


def test_demo_train_and_val_images_are_those_of_before_the_test_split():
    # pixel digests of images drawn before the test split existed (seed 0): each (class, split)
    # keeps its own generator stream (train 0, val 1), the test split draws from stream 2
    images = generate_demo_images(2, 1, 1, 16, seed=0, test_per_class=1)
    digests = {k: v[:16] for k, v in {**_pixels(images, "train/"), **_pixels(images, "val/")}.items()}
    assert digests == BEFORE_TEST_SPLIT


BEFORE_TEST_SPLIT = {
    "train/c00_disc_hue000/0000": "736d44b79433ba97",
    "val/c00_disc_hue000/0000": "0d7c3aa02f243d52",
    "train/c01_disc_hue069/0000": "46b0b8058318c867",
    "val/c01_disc_hue069/0000": "9f8383bd77f01737",
}
