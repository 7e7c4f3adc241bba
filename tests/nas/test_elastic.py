import numpy as np
import pytest

from tests.conftest import synthetic_table
from tfnas_kedro.nas.elastic import FitProblem, elasticity_scale
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.subnet import Subnet
from tfnas_kedro.nas.supernet import derive_architecture
from tfnas_kedro.nas.target_fit import fit_to_target


def _choices(space, seed):
    rng = np.random.default_rng(seed)
    positions = space.positions()
    depths = [int(rng.integers(s.min_depth, s.max_depth + 1)) for s in space.stages]
    ops = [int(rng.integers(len(p.ops))) for p in positions]
    widths = [{n: space.ops[n].init_mid(p.cin) for n in p.ops} for p in positions]
    return Subnet.of(depths, ops, widths)


def _one_hot(depths, ops, space):
    import torch

    alpha = [
        torch.nn.functional.one_hot(torch.tensor(i), len(p.ops)).float()
        for i, p in zip(ops, space.positions(), strict=True)
    ]
    beta = [
        torch.nn.functional.one_hot(torch.tensor(d - 1), s.max_depth).float()
        for d, s in zip(depths, space.stages, strict=True)
    ]
    return alpha, beta


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("where", [0.05, 0.5, 0.95])
def test_scaled_widths_meet_the_target_exactly(spaces, seed, where):
    space = spaces["tfnas"]
    table = synthetic_table(space)
    subnet = _choices(space, seed)
    depths, ops, widths = subnet.depths, subnet.ops, subnet.widths
    narrow = elasticity_scale(table, space, subnet, 1.0)  # infeasible: gives the narrowest
    wide = elasticity_scale(table, space, subnet, 1e6)  # everything at its widest
    target = narrow.latency_ms + where * (wide.latency_ms - narrow.latency_ms)
    result = elasticity_scale(table, space, subnet, target)
    assert result.feasible and result.latency_ms <= target
    # the band of these ops and depths, whatever the target: narrowest and widest widths
    assert narrow.band_ms == wide.band_ms == result.band_ms == pytest.approx((narrow.latency_ms, wide.latency_ms))
    assert result.gap < 0.01  # within 1% of the target
    alpha, beta = _one_hot(depths, ops, space)
    arch = derive_architecture(space, alpha, beta, result.widths, 1000)
    assert table.predict(arch) == pytest.approx(result.latency_ms)  # the reported latency is the table's
    for j, p in enumerate(space.positions()):
        for name in p.ops:
            lo, hi = space.ops[name].mid_range(p.cin)
            assert lo <= result.widths[j][name] <= hi
            if name != p.ops[ops[j]] or p.layer >= depths[p.stage]:
                assert result.widths[j][name] == widths[j][name]  # only the chosen ops change


def _not_monotone_table(space, seed: int) -> LatencyTable:
    """A measured table's two departures from monotone widths: widths on the channel block (16)
    priced 20% cheaper than their neighbours, and 5% noise per entry."""
    table = synthetic_table(space, resolution=32, seed=seed, slopes=(0.0005, 0.003))
    entries = table.entries.copy()
    on_block = (entries["mid"] % 16 == 0).to_numpy()
    noise = 1 + 0.05 * np.random.default_rng(seed + 100).standard_normal(len(entries))
    entries["ms"] = entries["ms"] * np.where(on_block, 0.8, 1.0) * noise
    return LatencyTable(table.meta.model_copy(update={"channel_block": 16, "base_ms": 0.3}), entries)


def test_widths_land_on_the_target_on_a_table_not_monotone_in_width(small_space):
    """Every width of a layer is tried: a bisection over widths stopped short on such a table
    (19 of these 60 targets ended over 1% below it; 7 now, none over 1.7%)."""
    gaps = []
    for seed in range(2):
        table = _not_monotone_table(small_space, seed)
        for k in range(10):
            subnet = _choices(small_space, 10 * seed + k)
            low, high = elasticity_scale(table, small_space, subnet, 1.0).band_ms
            for where in (0.3, 0.6, 0.9):
                result = elasticity_scale(table, small_space, subnet, low + where * (high - low))
                if result.feasible:  # (a band inverted by the cheaper block holds no target)
                    assert result.latency_ms <= result.target_ms
                    gaps.append(result.gap)
    assert len(gaps) >= 50 and np.mean(np.array(gaps) > 0.01) < 0.15 and max(gaps) < 0.02


def test_unreachable_target_is_reported_not_hidden(spaces):
    space = spaces["tfnas"]
    table = synthetic_table(space)
    result = elasticity_scale(table, space, _choices(space, 0), 1.0)
    assert not result.feasible and result.latency_ms > 1.0
    assert "unreachable" in result.message and result.gap < 0


@pytest.mark.parametrize("where", [0.02, 0.5, 0.9])
def test_final_fit_changes_depth_then_ops_when_widths_cannot_reach(spaces, where):
    space = spaces["tfnas"]
    table = synthetic_table(space)
    low, high = table.reachable_range(space)
    target = low + where * (high - low)
    positions = space.positions()
    depths, ops = [s.min_depth for s in space.stages], [0] * len(positions)  # an untrained search's choice
    widths = [{n: space.ops[n].init_mid(p.cin) for n in p.ops} for p in positions]
    uniform_depth = [[1 / s.max_depth] * s.max_depth for s in space.stages]
    uniform_ops = [[1 / len(p.ops)] * len(p.ops) for p in positions]
    start = Subnet.of(depths, ops, widths)
    fit = fit_to_target(table, space, uniform_depth, uniform_ops, start, target)
    result, notes = fit.scaling, fit.notes
    assert result.feasible and result.latency_ms <= target and result.gap < 0.01
    if where == 0.9:
        assert any("depth" in n for n in notes) and any(" op " in n for n in notes)
    alpha, beta = _one_hot(fit.subnet.depths, fit.subnet.ops, space)
    assert table.predict(derive_architecture(space, alpha, beta, result.widths, 1000)) == pytest.approx(
        result.latency_ms
    )


def test_final_fit_leaves_a_depth_that_overshoots_for_an_op_change(spaces):
    """Blocks whose cost barely depends on width: one layer more is too slow even at the narrowest
    widths and one less too fast even at the widest. The fit must not bounce between the two
    depths; a cheaper or dearer op closes the gap instead."""
    space = spaces["tfnas"].at_resolution(32)
    table = synthetic_table(space, resolution=32, num_classes=4, step=64)
    kernel_cost = {3: 1.0, 5: 1.3, 7: 1.6}
    table.entries["ms"] = table.entries["kernel"].map(kernel_cost) + 1e-5 * table.entries["mid"]
    table = type(table)(table.meta, table.entries)
    positions = space.positions()
    depths = [s.min_depth for s in space.stages]
    op_index = [0] * len(positions)
    widths = [{n: space.ops[n].mid_range(p.cin)[0] for n in p.ops} for p in positions]
    uniform_depth = [[1 / s.max_depth] * s.max_depth for s in space.stages]
    uniform_ops = [[1 / len(p.ops)] * len(p.ops) for p in positions]
    subnet = Subnet.of(depths, op_index, widths)
    start = elasticity_scale(table, space, subnet, 1e9).latency_ms  # widths hardly matter
    target = start + 2.45  # between whole layers: only a mix of kernels lands within 1%
    fit = fit_to_target(table, space, uniform_depth, uniform_ops, subnet, target)
    result, notes = fit.scaling, fit.notes
    assert result.feasible and result.gap <= 0.01, notes
    assert any(" op " in n for n in notes)  # reached by changing ops, not depths alone


def test_final_fit_lands_on_more_probable_depths_and_ops_than_a_step_by_step_walk(small_space):
    """After a short search (peaked or flat beta and alpha, the target outside the chosen band),
    the fit lands within 1% below every target, on depths and ops more probable under beta and
    alpha than the one-step-at-a-time walk reaches (which took whatever change it met first)."""
    from tfnas_kedro.nas.target_walk import walk_to_target

    space = small_space
    table = synthetic_table(space, resolution=32, num_classes=10, step=16, slopes=(0.003, 0.03))
    low, high = table.reachable_range(space)
    positions, rng = space.positions(), np.random.default_rng(1)

    def log_p(subnet, depth_probs, op_probs):
        chosen = [depth_probs[s][d - 1] for s, d in enumerate(subnet.depths)]
        chosen += [op_probs[j][subnet.ops[j]] for j, _, _ in subnet.active(space)]
        return float(np.log(chosen).sum())

    fitted, walked = [], []
    for _ in range(40):
        concentration = rng.choice([0.3, 1.0, 5.0])
        depth_probs = [list(rng.dirichlet([concentration] * s.max_depth)) for s in space.stages]
        op_probs = [list(rng.dirichlet([concentration] * len(p.ops))) for p in positions]
        depths = [max(s.min_depth, int(np.argmax(d)) + 1) for d, s in zip(depth_probs, space.stages, strict=True)]
        widths = [{n: space.ops[n].init_mid(p.cin) for n in p.ops} for p in positions]
        start = Subnet.of(depths, [int(np.argmax(o)) for o in op_probs], widths)
        target = low + rng.uniform(0.1, 0.9) * (high - low)
        fit = fit_to_target(table, space, depth_probs, op_probs, start, target)
        assert fit.scaling.feasible and fit.scaling.gap <= 0.01, fit.notes
        walk = walk_to_target(FitProblem(table, space.at_resolution(32), depth_probs, op_probs, target), start)
        fitted.append(log_p(fit.subnet, depth_probs, op_probs))
        walked.append(log_p(walk.subnet, depth_probs, op_probs))
    assert all(f >= w - 1e-9 for f, w in zip(fitted, walked, strict=True))  # in none of these less probable
    assert np.mean(fitted) > np.mean(walked) + 0.5  # and clearly more on average (measured: +1.3)
