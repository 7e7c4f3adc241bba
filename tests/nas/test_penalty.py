import pytest
import torch

from tests.conftest import synthetic_table
from tfnas_kedro.nas.errors import ConfigError, SearchError
from tfnas_kedro.nas.penalty import LatencyPenalty, check_reachable, target_ms_for


@pytest.fixture
def space_table(spaces):
    space = spaces["tfnas"]
    return space, synthetic_table(space, resolution=32, num_classes=4, step=64)


def test_the_penalty_is_zero_on_the_target_and_grows_alike_either_way():
    penalty = LatencyPenalty(10.0, weight=2.0)
    terms = penalty(torch.tensor([10.0, 8.0, 12.0]))
    assert terms.tolist() == pytest.approx([0.0, 0.4, 0.4])
    assert float(penalty(torch.tensor(8.0), target_ms=8.0)) == 0.0  # a steered target stands in for T
    assert penalty.settings() == {"target_ms": 10.0, "latency_lambda": 2.0}


def test_a_penalty_refuses_a_target_or_weight_no_search_could_use():
    with pytest.raises(ConfigError, match="a target must be a positive latency"):
        LatencyPenalty(0.0)
    with pytest.raises(ConfigError, match="latency_lambda -1"):
        LatencyPenalty(5.0, weight=-1)


def test_a_fraction_of_the_reachable_range_becomes_a_target_in_ms(space_table):
    space, table = space_table
    low, high = table.reachable_range(space)
    assert target_ms_for(table, space, fraction=0.25) == pytest.approx(low + 0.25 * (high - low))
    assert target_ms_for(table, space, latency_ms=high, fraction=0.25) == high  # an absolute target wins
    with pytest.raises(ConfigError, match="latency_ms .* or fraction"):
        target_ms_for(table, space)


def test_one_check_names_the_reachable_range_of_an_unreachable_target(space_table):
    space, table = space_table
    low, high = table.reachable_range(space)
    assert check_reachable(table, space, low) == (low, high)
    for target in (0.5 * low, 2 * high):
        outside = rf"{target:.3f} ms is outside the reachable range {low:.3f}\.\.{high:.3f}"
        with pytest.raises(SearchError, match=outside):
            target_ms_for(table, space, latency_ms=target)
