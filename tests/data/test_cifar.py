import numpy as np
import pytest
from kedro.io.core import DatasetError

from tfnas_kedro.data.cifar import FORMATS, open_cifar, write_cifar
from tfnas_kedro.datasets import CifarRootDataset


def _split(n, classes, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % classes


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_written_sets_read_back_through_torchvision(tmp_path, name):
    classes = FORMATS[name].num_classes
    train, test = _split(3 * classes, classes, 0), _split(classes, classes, 1)
    write_cifar(tmp_path, name, train, test, [f"class{i}" for i in range(classes)])
    data = open_cifar(tmp_path, name, train=True)
    assert len(data) == 3 * classes and len(open_cifar(tmp_path, name, train=False)) == classes
    image, label = data[7]
    assert np.array_equal(np.asarray(image), train[0][7]) and label == train[1][7]
    assert data.classes[2] == "class2"


def test_missing_root_with_downloads_off_names_the_path_and_the_flag(tmp_path):
    root = CifarRootDataset(root=str(tmp_path / "nowhere")).load()
    with pytest.raises(FileNotFoundError) as err:
        root.open("cifar10", train=True)
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message and "cifar_download=true" in message
    assert "data_batch_1" in message


def test_demo_sets_never_overwrite_real_data(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"real")
    sets = {"cifar10": (_split(20, 10, 0), _split(10, 10, 1), [f"c{i}" for i in range(10)])}
    with pytest.raises(DatasetError, match="did not generate"):
        CifarRootDataset(root=str(tmp_path)).save(sets)
    generated = tmp_path / "generated"
    CifarRootDataset(root=str(generated)).save(sets)
    CifarRootDataset(root=str(generated)).save(sets)  # its own earlier output may be replaced
    assert len(CifarRootDataset(root=str(generated)).load().open("cifar10", train=False)) == 10
