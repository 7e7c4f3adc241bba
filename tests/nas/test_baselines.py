import numpy as np
import pytest

from tests.conftest import synthetic_table
from tfnas_kedro.nas import zoo_names
from tfnas_kedro.nas.baselines import closest_zoo_model, random_architecture


@pytest.mark.parametrize("where", [0.25, 0.5, 0.7])
def test_random_architectures_are_scaled_to_the_given_latency(spaces, where):
    space = spaces["tfnas"]
    table = synthetic_table(space, resolution=64, num_classes=10, step=32)
    low, high = table.reachable_range(space)
    target = low + where * (high - low)
    rng = np.random.default_rng(0)
    archs = [random_architecture(table, space, target, 10, rng, name=f"r{i}") for i in range(3)]
    for arch in archs:
        assert target * 0.99 <= table.predict(arch) <= target and arch.num_classes == 10
    assert len({tuple((b.kernel, b.mid, b.se) for b in a.blocks) for a in archs}) == 3  # three different ones
    again = random_architecture(table, space, target, 10, np.random.default_rng(0), name="r0")
    assert again == archs[0]  # seeded


def test_an_unreachable_latency_names_the_range(spaces):
    space = spaces["tfnas"]
    table = synthetic_table(space, resolution=64, num_classes=10, step=32)
    with pytest.raises(ValueError, match="no random architecture of space 'tfnas' reached 0.001 ms"):
        random_architecture(table, space, 0.001, 10, np.random.default_rng(0), tries=5)


def test_the_closest_published_model_is_priced_on_the_table(spaces):
    table = synthetic_table(spaces["tfnas"], resolution=64, num_classes=10, step=32)
    priced = {}
    for name in zoo_names():
        try:
            priced[name] = table.predict(closest_zoo_model(table, 0.0, 10)[0].model_copy(update={"name": name}))
        except (KeyError, ValueError):
            continue
    arch, ms = closest_zoo_model(table, 1e9, 10)  # the slowest it can price
    assert arch.num_classes == 10 and arch.resolution == 64 and ms == pytest.approx(table.predict(arch))
    fastest, fastest_ms = closest_zoo_model(table, 0.0, 10)
    assert fastest_ms < ms and fastest.name != arch.name and fastest.name.startswith("TF-NAS")
