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
