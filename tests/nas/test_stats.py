import math

import numpy as np
import pytest

from tfnas_kedro.nas.stats import (
    compare_arms,
    kendall_tau,
    kendall_tau_interval,
    min_detectable_difference,
    permutation_p_value,
    tau_noise_ceiling,
    wilson_interval,
)


def test_wilson_interval_of_70_in_100_is_the_textbook_one():
    low, high = wilson_interval(70, 100)
    assert low == pytest.approx(0.6041, abs=1e-4) and high == pytest.approx(0.7810, abs=1e-4)


def test_wilson_interval_stays_inside_0_and_1_and_narrows_with_more_images():
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    small, large = wilson_interval(70, 100), wilson_interval(700, 1000)
    assert large[1] - large[0] < 0.35 * (small[1] - small[0]) + 0.01


def test_wilson_interval_refuses_impossible_counts():
    with pytest.raises(ValueError, match="correct"):
        wilson_interval(11, 10)


def test_kendall_tau_is_one_for_the_same_order_and_minus_one_reversed():
    x = [0.1, 0.4, 0.35, 0.8, 0.6]
    assert kendall_tau(x, [2 * v for v in x]) == pytest.approx(1.0)
    assert kendall_tau(x, [-v for v in x]) == pytest.approx(-1.0)


def test_kendall_tau_counts_one_swap_in_four_items():
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


def test_sparse_kendall_tau_ignores_a_swap_within_the_threshold():
    retrained, inherited = [0.70, 0.705, 0.80, 0.90], [0.30, 0.295, 0.50, 0.60]
    assert kendall_tau(retrained, inherited) < 1.0
    assert kendall_tau(retrained, inherited, threshold=0.01) == pytest.approx(1.0)


def test_kendall_tau_interval_holds_the_point_value():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=12)
    y = x + rng.normal(0, 0.2, size=12)
    low, high = kendall_tau_interval(x, y, rounds=500)
    assert low <= kendall_tau(x, y) <= high and -1 <= low < high <= 1


def test_permutation_p_value_is_exact_for_small_arms():
    # of the 20 ways to split six values into three and three, only the two extreme ones differ by 3
    assert permutation_p_value([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert permutation_p_value([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)


def _models(top1s, images, rng):
    return np.stack([rng.uniform(size=images) < p for p in top1s])


def test_clearly_separated_arms_are_called_better_with_an_interval_excluding_zero():
    rng = np.random.default_rng(1)
    result = compare_arms(_models([0.80, 0.81, 0.79], 1000, rng), _models([0.6] * 8, 1000, rng), rounds=1000)
    assert result.verdict == "better" and result.difference_low > 0
    assert result.difference == pytest.approx(result.mean_a - result.mean_b)
    assert result.low_a <= result.mean_a <= result.high_a and result.low_b <= result.mean_b <= result.high_b
    assert result.share_beaten == 1.0 and result.p_value < 0.01


def test_arms_within_the_noise_show_no_difference():
    rng = np.random.default_rng(2)
    result = compare_arms(_models([0.70, 0.70, 0.70], 100, rng), _models([0.70] * 8, 100, rng), rounds=1000)
    assert result.verdict == "no difference shown"
    assert result.difference_low < 0 < result.difference_high


def test_one_model_each_gives_the_binomial_noise_of_the_test_set():
    rng = np.random.default_rng(3)
    result = compare_arms(_models([0.7], 1000, rng), _models([0.7], 1000, rng), rounds=2000)
    expected = 2 * 1.96 * math.sqrt(0.7 * 0.3 / 1000)  # about 0.057
    assert result.high_a - result.low_a == pytest.approx(expected, rel=0.15)


def test_arms_scored_on_different_images_are_refused():
    with pytest.raises(ValueError, match="different image counts"):
        compare_arms(np.ones((2, 10)), np.ones((2, 11)))


def test_the_detectable_difference_is_2_8_standard_errors():
    # a 95% interval of half-width 1.96 se: 80% power at 95% needs (1.96 + 0.84) se
    assert min_detectable_difference(-0.0196, 0.0196) == pytest.approx(0.0280, abs=1e-4)


def test_the_noise_ceiling_of_tau_falls_as_seed_noise_grows_against_the_spread_of_candidates():
    top1 = np.linspace(0.70, 0.80, 8)  # candidates 0.014 apart
    quiet, noisy = tau_noise_ceiling(top1, 0.001), tau_noise_ceiling(top1, 0.05)  # 0.07 and 3.5 x the gap
    assert quiet > 0.95 and 0.0 < noisy < 0.5


def test_seeds_that_agree_exactly_put_the_ceiling_at_the_ranking_itself():
    assert tau_noise_ceiling(np.linspace(0.70, 0.80, 5), 0.0) == 1.0  # no noise: two retrainings agree
    assert np.isnan(tau_noise_ceiling(np.full(5, 0.1), 0.0))  # all tied: no ranking, as tau itself
