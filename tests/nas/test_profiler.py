import torch
from torch import nn

from tfnas_kedro.nas.profiler import Profiler, ProfilerSettings, reference_workload, torch_threads

FAST = {"warmup": 1, "repeats": 3, "rounds": 2, "remeasure": 0}


def test_reference_workload_is_fixed_and_leaves_the_callers_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first, shape = reference_workload()
    assert torch.equal(torch.rand(3), expected)
    second, _ = reference_workload()
    assert torch.equal(first[0].weight, second[0].weight) and shape == (32, 24, 24)


def test_bigger_modules_take_longer_and_threads_are_restored():
    before = torch.get_num_threads()
    profiler = Profiler(ProfilerSettings(**FAST))
    small, large = nn.Conv2d(8, 8, 1), nn.Conv2d(64, 64, 3, padding=1)
    timings = profiler.time_modules([small, large], [(8, 16, 16), (64, 32, 32)])
    assert 0 < timings[0].ms < timings[1].ms and all(t.samples == 6 for t in timings)
    assert torch.get_num_threads() == before


def test_without_normalisation_the_statistic_is_wall_clock():
    profiler = Profiler(ProfilerSettings(**FAST, normalize=False))
    timing = profiler.time_modules([nn.Conv2d(16, 16, 3, padding=1)], [(16, 32, 32)])[0]
    assert timing.ms == timing.raw_ms


def test_a_given_reference_is_used_as_the_unit():
    settings = ProfilerSettings(**FAST)
    module = nn.Conv2d(16, 16, 3, padding=1)
    one = Profiler(settings, reference_ms=1.0).time_modules([module], [(16, 32, 32)])[0]
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    # the same ratios in a unit twice as large read twice as long (up to timing noise)
    two = Profiler(settings, reference_ms=2.0).time_modules([module], [(16, 32, 32)])[0]
    assert 1.0 < two.ms / one.ms < 4.0
