from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import synthetic_table
from tfnas_kedro.nas import ConfigError, zoo_arch
from tfnas_kedro.nas.arch import BlockSpec
from tfnas_kedro.nas.calibration import calibrate
from tfnas_kedro.nas.latency import KEY_COLUMNS, LatencyTable, block_key, block_spec, expected_latency, format_key
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.random_networks import sample_architectures, sample_covering
from tfnas_kedro.nas.table_build import build_latency_table, table_keys
from tfnas_kedro.nas.table_meta import LatencyMeta, meta_from_dict, meta_to_dict


def test_block_key_names_what_latency_depends_on():
    block = BlockSpec(kernel=5, in_=40, mid=170, se=80, out=80, stride=2, act="swish")
    assert block_key(block, 28) == (28, 40, 80, 2, "swish", 5, 80)
    assert format_key(block_key(block, 28)) == "28x28 40->80 s2 swish k5 se80"
    assert block_key(block.model_copy(update={"mid": 240}), 28) == block_key(block, 28)


def test_keys_cover_every_position_op_and_width(spaces):
    space = spaces["tfnas"]
    keys = table_keys([space], 8)
    for pos in space.positions():
        for name in pos.ops:
            lo, hi = space.ops[name].mid_range(pos.cin)
            mids = keys[block_key(space.block_spec(pos, name, lo), pos.input_hw)]
            assert lo in mids and hi in mids and all(b - a <= 8 for a, b in zip(mids, mids[1:], strict=False))
    ((fixed, hw),) = space.fixed_block_inputs()
    assert keys[block_key(fixed, hw)] == [32]  # fixed block: its one width
    # e3 and e6 ops of equal kernel and SE share one key over the union of their ranges
    first = space.positions()[0]
    assert keys[block_key(space.block_spec(first, "k3_e3"), 112)][:2] == [32, 40]
    assert keys[block_key(space.block_spec(first, "k3_e6"), 112)][-1] == 128


def test_interpolation_is_linear_between_grid_points():
    key = (14, 80, 80, 1, "swish", 3, 0)
    entries = pd.DataFrame(
        [(*key, 160, 1.0, 1.0, 0.0), (*key, 320, 3.0, 3.0, 0.0)],
        columns=[*KEY_COLUMNS, "mid", "ms", "median_ms", "spread"],
    )
    meta = LatencyMeta(
        device="cpu",
        device_name="t",
        batch_size=1,
        threads=1,
        resolution=224,
        num_classes=1000,
        spaces=["tfnas"],
        stem={"out": 32, "act": "relu"},
        head={"out": 1280, "act": "swish"},
        width_step=160,
        profiler={},
    )
    table = LatencyTable(meta, entries)
    block = BlockSpec(kernel=3, in_=80, mid=200, se=0, out=80, stride=1, act="swish")
    assert table.raw_block_ms(block, 14) == pytest.approx(1.5)
    assert table.raw_block_ms(block.model_copy(update={"mid": 320}), 14) == pytest.approx(3.0)
    with pytest.raises(KeyError, match=r"mid 400 outside the measured range \[160, 320\]"):
        table.raw_block_ms(block.model_copy(update={"mid": 400}), 14)
    with pytest.raises(KeyError, match=r"no latency entry for block 7x7 80->80 s1 swish k3 se0"):
        table.raw_block_ms(block, 7)


def test_mismatches_are_named(spaces):
    table = synthetic_table(spaces["tfnas"])
    table.predict(zoo_arch("TF-NAS-A"))
    with pytest.raises(ConfigError, match="resolution 160, table measured at 224"):
        table.predict(zoo_arch("TF-NAS-A", resolution=160))
    with pytest.raises(ConfigError, match="10 classes, table's classifier has 1000"):
        table.predict(zoo_arch("TF-NAS-A", num_classes=10))
    with pytest.raises(ConfigError, match=r"space 'mbv2', table built for \['tfnas'\]"):
        table.predict(zoo_arch("TF-NAS-MBV2-A"))
    with pytest.raises(ConfigError, match="measured on 'cpu'.*target device is 'cuda'"):
        table.check_device("cuda")
    with pytest.raises(ConfigError, match="resolution 224, but 64 is configured"):
        table.check_device("cpu", resolution=64)
    with pytest.raises(ConfigError, match=r"\['tfnas'\], but 'mbv2' is configured"):
        table.check_device("cpu", space="mbv2")


def test_networks_are_timed_only_as_the_table_was(spaces):
    """A network is compared with the table only when timed on its device, in its runtime, at its
    batch size and thread count; otherwise the run stops with both named."""
    table = synthetic_table(spaces["tfnas"])
    timed = ProfilerSettings(device="cpu", batch_size=table.meta.batch_size, threads=table.meta.threads)
    table.check_timing(timed)
    with pytest.raises(ConfigError, match="measured on 'cpu'.*target device is 'cuda'.*rebuild the table"):
        table.check_timing(replace(timed, device="cuda"))
    with pytest.raises(ConfigError, match="timed in torch .*but runtime 'onnxruntime' is configured"):
        table.check_timing(replace(timed, runtime="onnxruntime"))
    with pytest.raises(ConfigError, match=f"batch size {table.meta.batch_size} in the table, 7 configured"):
        table.check_timing(replace(timed, batch_size=7))
    with pytest.raises(ConfigError, match=f"{table.meta.threads} threads in the table, 3 configured"):
        table.check_timing(replace(timed, threads=3))


def test_prediction_is_base_plus_blocks_and_applies_calibration(spaces):
    table = synthetic_table(spaces["tfnas"])
    arch = zoo_arch("TF-NAS-B")
    sizes = arch.feature_sizes()
    blocks = sum(table.raw_block_ms(b, sizes[i]) for i, b in enumerate(arch.blocks))
    assert table.predict(arch, calibrated=False) == pytest.approx(5.0 + blocks)
    table.meta.calibration = {"scale": 1.2, "networks": 3}
    assert table.predict(arch) == pytest.approx(5.0 + 1.2 * blocks)


def _one_hot(n: int, i: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(i), n).float()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expected_latency_equals_the_predictor_on_one_hot_choices(spaces, seed):
    space = spaces["tfnas"]
    table = synthetic_table(space)
    table.meta.calibration = {"scale": 1.1, "networks": 3}
    rng = np.random.default_rng(seed)
    positions = space.positions()
    depths = [int(rng.integers(s.min_depth, s.max_depth + 1)) for s in space.stages]
    op_index = [int(rng.integers(len(p.ops))) for p in positions]
    widths = [{n: int(rng.integers(*space.ops[n].mid_range(p.cin))) for n in p.ops} for p in positions]
    ops, mids = [[] for _ in space.stages], [[] for _ in space.stages]
    for pos, index, width in zip(positions, op_index, widths, strict=True):
        if pos.layer < depths[pos.stage]:
            ops[pos.stage].append(pos.ops[index])
            mids[pos.stage].append(width[pos.ops[index]])
    arch = space.build_arch(depths, ops, mids)
    op_probs = [_one_hot(len(p.ops), i) for p, i in zip(positions, op_index, strict=True)]
    depth_probs = [_one_hot(stage.max_depth, depths[s] - 1) for s, stage in enumerate(space.stages)]
    fixed = table.fixed_ms + table.fixed_blocks_ms(space)
    value = expected_latency(
        table.layer_matrix(space, widths), op_probs, depth_probs, [p.stage for p in positions], fixed
    )
    assert value.item() == pytest.approx(table.predict(arch), rel=1e-5)


def test_expected_latency_is_differentiable_and_between_extremes(spaces):
    space = spaces["tfnas"]
    table = synthetic_table(space)
    positions = space.positions()
    alpha = [torch.zeros(len(p.ops), requires_grad=True) for p in positions]
    beta = [torch.zeros(s.max_depth, requires_grad=True) for s in space.stages]
    fixed = table.fixed_ms + table.fixed_blocks_ms(space)
    value = expected_latency(
        table.layer_matrix(space),
        [a.softmax(0) for a in alpha],
        [b.softmax(0) for b in beta],
        [p.stage for p in positions],
        fixed,
    )
    value.backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alpha)
    assert beta[0].grad[1] > beta[0].grad[0]  # a deeper stage costs more
    low, high = table.reachable_range(space)
    assert low < value.item() < high


def test_reachable_range_bounds_every_architecture(spaces):
    space = spaces["tfnas"]
    table = synthetic_table(space)
    low, high = table.reachable_range(space)
    predictions = [table.predict(a) for a in sample_architectures(space, 20, seed=5, num_classes=1000)]
    assert low <= min(predictions) and max(predictions) <= high
    # the bounds are attained: the smallest network has minimum depth, cheapest op and width
    cheapest = []
    for pos in space.positions():
        costs = {
            (n, m): table.block_ms(space.block_spec(pos, n, m), pos.input_hw)
            for n in pos.ops
            for m in space.ops[n].mid_range(pos.cin)
        }
        cheapest.append(min(costs, key=costs.get))
    by_stage = space.stage_positions()
    first = [cheapest[space.positions().index(stage[0])] for stage in by_stage]
    arch = space.build_arch([1] * 6, [[n] for n, _ in first], [[m] for _, m in first])
    assert table.predict(arch) == pytest.approx(low)


def test_calibration_recovers_the_scale_and_shrugs_off_one_noisy_network(spaces):
    space = spaces["tfnas"]
    table = synthetic_table(space)
    archs = sample_architectures(space, 7, seed=1, num_classes=1000)
    measured = [5.0 + 1.25 * table.blocks_ms(a) for a in archs]
    measured[3] *= 1.5  # timed while the machine was busy
    calibrated, report = calibrate(table, archs, measured)
    c = calibrated.meta.calibration
    assert c.scale == pytest.approx(1.25) and c.base_scale == pytest.approx(1.0)
    assert all(v == pytest.approx(1.25) for v in c.scales.values()) and c.outliers == 1
    assert report["fit_weight"].tolist()[3] == 0.0
    assert sorted(report["relative_error"].abs())[-2] < 1e-9  # exact but for the noisy one
    assert c.max_abs_residual == pytest.approx(1 - 1 / 1.5)
    assert list(report.columns) == [
        "name",
        "raw_predicted_ms",
        "predicted_ms",
        "measured_ms",
        "relative_error",
        "fit_weight",
    ]


def test_calibration_fits_one_scale_per_feature_map_size(spaces):
    """Blocks on large feature maps lose more in a network than small ones (cache): a single
    scale cannot fit that, one per input size can, and held-out networks are then predicted."""
    space = spaces["tfnas"]
    table = synthetic_table(space)
    truth = {112: 0.4, 56: 1.3, 28: 1.1, 14: 1.0, 7: 0.9}

    def measure(a):
        blocks = zip(a.blocks, a.feature_sizes(), strict=False)
        return 3.0 + sum(truth[hw] * table.raw_block_ms(b, hw) for b, hw in blocks)

    fit = sample_architectures(space, 32, seed=2, num_classes=1000)  # the demo's number
    held_out = sample_architectures(space, 6, seed=9, num_classes=1000)
    exact, report = calibrate(table, fit, [measure(a) for a in fit], ridge=0.0, by_se=False)
    assert exact.meta.calibration.scales == pytest.approx({str(hw): v for hw, v in truth.items()})
    assert exact.meta.calibration.base_scale == pytest.approx(0.6) and report["relative_error"].abs().max() < 1e-9
    for a in held_out:
        assert exact.predict(a) == pytest.approx(measure(a), rel=1e-9)

    def worst(errors):
        return max(abs(e) for e in errors)

    shrunk = calibrate(table, fit, [measure(a) for a in fit], by_se=False)[0]  # default ridge: shrinks toward one scale
    common = shrunk.meta.calibration.scale
    single = worst((3.0 + common * table.blocks_ms(a) - measure(a)) / measure(a) for a in held_out)
    assert worst((shrunk.predict(a) - measure(a)) / measure(a) for a in held_out) < single / 3


def test_tiny_table_built_end_to_end(spaces):
    settings = ProfilerSettings(warmup=1, repeats=2, rounds=1, remeasure=0)
    table = build_latency_table(
        [spaces["tfnas"], spaces["tfnas_wose"]],
        resolution=32,
        num_classes=10,
        width_step=512,
        settings=settings,
        channel_block=0,
    )
    assert table.meta.spaces == ["tfnas", "tfnas_wose"] and table.meta.resolution == 32
    assert table.meta.base_ms > 0 and (table.entries["ms"] > 0).all()
    assert table.meta.threads == 1 and table.meta.torch_version == torch.__version__ and table.meta.device_name
    for name in ("TF-NAS-D", "TF-NAS-D-wose"):  # one table prices both spaces' models
        assert table.predict(zoo_arch(name, resolution=32, num_classes=10)) > table.meta.base_ms


def test_a_table_records_the_runtime_it_was_timed_in(spaces):
    import onnxruntime

    settings = ProfilerSettings(warmup=1, repeats=2, rounds=1, remeasure=0, runtime="onnxruntime")
    table = build_latency_table(
        [spaces["tfnas"]], resolution=32, num_classes=10, width_step=512, settings=settings, channel_block=0
    )
    assert table.meta.runtime.model_dump(exclude_none=True) == {
        "name": "onnxruntime",
        "version": onnxruntime.__version__,
        "provider": "CPUExecutionProvider",
        "options": {"intra_op_threads": 1, "inter_op_threads": 1, "graph_optimization": "all"},
        "opset": 17,
    }
    assert (table.entries["ms"] > 0).all() and table.meta.profiler.runtime == "onnxruntime"
    assert meta_from_dict(meta_to_dict(table.meta)).runtime == table.meta.runtime
    old = meta_from_dict({k: v for k, v in meta_to_dict(table.meta).items() if k != "runtime"})
    assert old.runtime.name == "torch"  # a table from before the option was timed in eager torch


def test_widths_on_the_channel_block_are_measured_and_priced_apart(spaces):
    from tfnas_kedro.nas.table_build import aligned_grid

    grid = aligned_grid(83, 200, 32, 16)
    assert grid[0] == 83 and grid[-1] == 200 and {96, 128, 160, 192} <= set(grid) and {88, 120, 152, 184} <= set(grid)
    assert all(m % 16 in (0, 8) for m in grid[1:-1])  # on the block, or halfway between two multiples
    table = synthetic_table(spaces["tfnas"], resolution=32, step=64)
    key = tuple(table.entries[table.entries["cin"] <= 32].iloc[0][KEY_COLUMNS])  # expands to any of the widths
    mids = aligned_grid(32, 192, 32, 16)
    # one block priced with a cliff: a width on a multiple of 16 runs 20% faster than one off it
    rows = [(*key, m, 1.0 + m / 100 * (0.8 if m % 16 == 0 else 1.0)) for m in mids]
    entries = pd.DataFrame(rows, columns=[*KEY_COLUMNS, "mid", "ms"]).assign(median_ms=lambda f: f["ms"], spread=0.0)
    aligned = LatencyTable(table.meta.with_changes(channel_block=16), entries)
    one_grid = LatencyTable(table.meta, entries)

    for mid in (80, 112, 144):  # on the block, between measured widths
        assert aligned.raw_block_ms(block_spec(key, mid), key[0]) == pytest.approx(1.0 + mid / 100 * 0.8)
    for mid in (83, 101, 150):  # off it
        assert aligned.raw_block_ms(block_spec(key, mid), key[0]) == pytest.approx(1.0 + mid / 100)
    # one grid mixes the two kinds of width and prices neither right
    assert one_grid.raw_block_ms(block_spec(key, 80), key[0]) > 1.0 + 80 / 100 * 0.8 + 0.01
    assert one_grid.raw_block_ms(block_spec(key, 101), key[0]) < 1.0 + 101 / 100 - 0.01


def test_a_width_off_the_channel_block_next_to_an_end_on_it_is_priced_as_off(spaces):
    """TF-NAS-D's 65 in 64..128: with only ``lo`` measured below the first halfway width, it was
    interpolated between an on-width and an off-width and priced at half its kind."""
    from tfnas_kedro.nas.table_build import aligned_grid

    mids = aligned_grid(64, 128, 16, 4)
    assert {65, 127} <= set(mids)  # both kinds measured at both ends
    table = synthetic_table(spaces["tfnas"], resolution=32, step=64)
    key = tuple(table.entries[table.entries["cin"] <= 32].iloc[0][KEY_COLUMNS])
    rows = [(*key, m, 1.0 + m / 100 * (0.4 if m % 4 == 0 else 1.0)) for m in mids]
    entries = pd.DataFrame(rows, columns=[*KEY_COLUMNS, "mid", "ms"]).assign(median_ms=lambda f: f["ms"], spread=0.0)
    aligned = LatencyTable(table.meta.with_changes(channel_block=4), entries)
    for mid in (65, 66, 67, 125, 127):
        assert aligned.raw_block_ms(block_spec(key, mid), key[0]) == pytest.approx(1.0 + mid / 100)
    for mid in (64, 68, 124, 128):
        assert aligned.raw_block_ms(block_spec(key, mid), key[0]) == pytest.approx(1.0 + mid / 100 * 0.4)


def test_calibration_networks_range_from_none_to_all_widths_on_the_channel_block(spaces):
    archs = sample_architectures(spaces["tfnas"].at_resolution(224), 8, 0, 1000, channel_block=16)
    shares = [sum(b.mid % 16 == 0 for b in a.blocks[1:]) / len(a.blocks[1:]) for a in archs]
    assert shares[0] < 0.3 and shares[-1] > 0.8 and np.corrcoef(shares, range(8))[0, 1] > 0.8


def test_with_a_channel_block_the_calibration_fits_blocks_on_and_off_it_apart(spaces):
    """In a network, blocks off the block's multiples cost more than their isolated time (layout
    reorders) and blocks on them do not: one scale per size cannot fit it, one per size and kind can."""
    space = spaces["tfnas"]
    table = synthetic_table(space)
    table = LatencyTable(table.meta.with_changes(channel_block=16), table.entries)
    truth = {"on": 1.0, "off": 2.0}

    def measure(a):
        blocks = zip(a.blocks, a.feature_sizes(), strict=False)
        return 3.0 + sum(truth["on" if b.mid % 16 == 0 else "off"] * table.raw_block_ms(b, hw) for b, hw in blocks)

    fit = sample_architectures(space, 24, seed=2, num_classes=1000, channel_block=16)
    held_out = [zoo_arch(n) for n in ("TF-NAS-A", "TF-NAS-C", "TF-NAS-D")]  # few, all and some widths on 16
    exact, _ = calibrate(table, fit, [measure(a) for a in fit], ridge=0.0)
    scales = exact.meta.calibration.scales
    assert {k.split(":")[1] for k in scales} == {"on", "off"}
    assert all(v == pytest.approx(truth[k.split(":")[1]]) for k, v in scales.items())
    for a in held_out:
        assert exact.predict(a) == pytest.approx(measure(a), rel=1e-9)
    one_kind = LatencyTable(table.meta.with_changes(channel_block=0), table.entries)
    single, _ = calibrate(one_kind, fit, [measure(a) for a in fit])
    assert max(abs(single.predict(a) / measure(a) - 1) for a in held_out) > 0.05


def test_a_slow_moment_while_building_lands_on_scattered_widths_not_on_one_blocks_curve(small_space, monkeypatch):
    """Entries are timed in shuffled groups: a slow period of the machine (here one group timed
    50% slow) shifts a few widths of many blocks, never the whole curve of one block, whose error
    every network using that block would share."""
    from tfnas_kedro.nas.profiler import Profiler, Timing
    from tfnas_kedro.nas.table_build import timing_groups

    groups_timed = []

    def fake_time_modules(self, modules, shapes):
        groups_timed.append(len(modules))
        slow = 1.5 if len(groups_timed) == 4 else 1.0  # the first call times the base
        costs = [slow * sum(p.numel() for p in m.parameters()) / 1e4 for m in modules]
        return [Timing(c, c, 0.0, 1, c) for c in costs]

    monkeypatch.setattr(Profiler, "time_modules", fake_time_modules)
    monkeypatch.setattr(Profiler, "_measure_reference", lambda self: 1.0)
    space = small_space  # 25 blocks, 545 entries: building the modules is what takes the time
    keys = table_keys([space.at_resolution(64)], 4)
    groups = timing_groups(keys, 16)
    assert sorted(e for g in groups for e in g) == sorted((k, m) for k, mids in keys.items() for m in mids)
    build = dict(
        resolution=64, num_classes=10, width_step=4, channel_block=0, settings=ProfilerSettings(), curve_tolerance=None
    )
    table = build_latency_table([space], **build, group_size=16)  # the shuffle alone
    truth = build_latency_table([space], **build, group_size=10**6)  # timed after the slow moment
    assert len(groups_timed) == 1 + len(groups) + 2  # base and groups, then base and all entries at once
    slowed = table.entries["ms"] / truth.entries["ms"] > 1.25
    per_key = slowed.groupby([table.entries[c] for c in KEY_COLUMNS]).agg(["sum", "size"])
    assert slowed.sum() == 16  # one group's worth of widths...
    assert (per_key["sum"] > 0).sum() >= 8  # ...spread over many blocks
    assert not ((per_key["sum"] == per_key["size"]) & (per_key["size"] >= 3)).any()  # no whole curve shifted


def test_a_width_off_its_blocks_curve_is_timed_again_and_a_real_step_is_kept(small_space, monkeypatch):
    """One timing spikes (3x, the first time only): the entry is timed again and the second
    timing, on the line through its neighbours, replaces it. A width that is slower every time
    (a real step of the kernels) keeps its timing."""
    from tfnas_kedro.nas.profiler import Profiler, Timing

    space = small_space
    keys = table_keys([space.at_resolution(64)], 4)
    key = next(k for k, mids in keys.items() if len(mids) >= 5)
    spiked, stepped = keys[key][1], keys[key][3]
    seen = []

    def fake_time_modules(self, modules, shapes):
        out = []
        for m, shape in zip(modules, shapes, strict=True):
            cost = sum(p.numel() for p in m.parameters()) / 1e4
            spec = getattr(m, "spec", None)
            if spec is not None and block_key(spec, shape[1]) == key:
                if spec.mid == spiked and spiked not in seen:
                    seen.append(spiked)
                    cost *= 3
                elif spec.mid == stepped:
                    cost *= 3
            out.append(Timing(cost, cost, 0.0, 1, cost))
        return out

    monkeypatch.setattr(Profiler, "time_modules", fake_time_modules)
    monkeypatch.setattr(Profiler, "_measure_reference", lambda self: 1.0)
    build = dict(resolution=64, num_classes=10, width_step=4, channel_block=0, settings=ProfilerSettings())
    table = build_latency_table([space], **build)
    seen.clear()
    untouched = build_latency_table([space], **build, curve_tolerance=None)
    curve = table.entries.set_index([*KEY_COLUMNS, "mid"])["ms"]
    first = untouched.entries.set_index([*KEY_COLUMNS, "mid"])["ms"]
    assert first[(*key, spiked)] == pytest.approx(3 * curve[(*key, spiked)])  # the spike, then its retiming
    assert curve[(*key, stepped)] == pytest.approx(first[(*key, stepped)])  # the step stays
    assert table.meta.curve_retimed == 1
    others = curve.index != (*key, spiked)
    assert np.allclose(curve[others].to_numpy(), first[others].to_numpy())


def test_calibration_networks_span_the_published_models_depths_and_widths(spaces):
    """Uniform depths and widths cluster in the middle of the space while published models sit at
    its edges (16-19 blocks); a calibration that never saw such networks extrapolates to them."""
    space = spaces["tfnas"].at_resolution(224)
    archs = sample_architectures(space, 48, seed=0, num_classes=1000)
    zoo = [zoo_arch(f"TF-NAS-{x}") for x in "ABCD"] + [zoo_arch(f"TF-NAS-CPU-{x}") for x in "AB"]

    def expansion(a):
        return np.mean([b.mid / b.in_ for b in a.blocks[1:]])

    depths, expansions = [len(a.blocks) for a in archs], [expansion(a) for a in archs]
    assert min(depths) <= min(len(a.blocks) for a in zoo) - 5 and max(depths) >= max(len(a.blocks) for a in zoo)
    assert min(expansions) <= min(expansion(a) for a in zoo) and max(expansions) >= max(expansion(a) for a in zoo)
    assert np.corrcoef(depths, expansions)[0, 1] ** 2 < 0.25  # depth and width vary independently


def test_the_calibration_prices_fetching_weights_a_network_finds_out_of_cache(spaces):
    """A known cost isolated timings miss: 0.5 ms per million weights. The fit recovers it, the
    table's blocks carry it (so the search's latency does too), and a fit without it leaves the
    heaviest networks under-predicted."""
    from tfnas_kedro.nas.cost import block_params

    space = spaces["tfnas"]
    table = synthetic_table(space)

    def measure(a):
        blocks = list(zip(a.blocks, a.feature_sizes(), strict=False))
        return 3.0 + sum(table.raw_block_ms(b, hw) + 0.5 * block_params(b) / 1e6 for b, hw in blocks)

    fit = sample_architectures(space, 32, seed=2, num_classes=1000)
    held_out = [zoo_arch(f"TF-NAS-{x}") for x in "ABCD"] + sample_architectures(space, 8, seed=9, num_classes=1000)
    priced, _ = calibrate(table, fit, [measure(a) for a in fit], ridge=0.0)
    assert priced.meta.calibration.ms_per_mparam == pytest.approx(0.5)
    assert all(priced.predict(a) == pytest.approx(measure(a), rel=1e-9) for a in held_out)
    block, hw = held_out[0].blocks[5], held_out[0].feature_sizes()[5]
    assert priced.block_ms(block, hw) - priced.block_scale(block, hw) * priced.raw_block_ms(block, hw) == pytest.approx(
        0.5 * block_params(block) / 1e6
    )
    unpriced, _ = calibrate(table, fit, [measure(a) for a in fit], ridge=0.0, weight_fetch=False)
    errors = [unpriced.predict(a) / measure(a) - 1 for a in held_out]
    assert max(abs(e) for e in errors) > 0.01
    # a "saving" per weight is not physical: the term is dropped rather than fitted negative
    saving = [2 * 3.0 + 2 * table.blocks_ms(a) - measure(a) for a in fit]
    assert calibrate(table, fit, saving, ridge=0.0)[0].meta.calibration.ms_per_mparam == 0.0


def test_calibration_networks_come_from_every_space_the_table_prices(spaces):
    """A table for the SE and the no-SE space fitted on one space's networks alone is fitted on
    a mix of blocks the other space's models do not have."""
    both = [spaces["tfnas"], spaces["tfnas_wose"]]
    archs = sample_covering(both, 7, seed=0, num_classes=1000)
    assert [a.space for a in archs] == ["tfnas"] * 4 + ["tfnas_wose"] * 3
    assert len({a.name for a in archs}) == 7
    assert all(b.se == 0 for a in archs[4:] for b in a.blocks) and any(b.se for a in archs[:4] for b in a.blocks)


def test_se_blocks_are_calibrated_apart(spaces):
    """A known bias: SE blocks cost 1.5x their isolated time in a network, the rest 1x. One scale
    per size leaves the SE-heavy and SE-free models biased in opposite directions; scales per size
    and SE (the default) remove it."""
    space = spaces["tfnas"]
    table = synthetic_table(space)

    def measure(a):
        blocks = zip(a.blocks, a.feature_sizes(), strict=False)
        return 3.0 + sum((1.5 if b.se else 1.0) * table.raw_block_ms(b, hw) for b, hw in blocks)

    fit = sample_architectures(space, 24, seed=2, num_classes=1000)
    held_out = [zoo_arch(f"TF-NAS-{x}") for x in "ABCD"] + sample_architectures(space, 8, seed=9, num_classes=1000)
    by_se, _ = calibrate(table, fit, [measure(a) for a in fit], ridge=0.0)
    assert by_se.meta.calibration.by_se and any(k.endswith(":se") for k in by_se.meta.calibration.scales)
    errors = [by_se.predict(a) / measure(a) - 1 for a in held_out]
    assert max(abs(e) for e in errors) < 1e-9
    one, _ = calibrate(table, fit, [measure(a) for a in fit], ridge=0.0, by_se=False)
    errors = [one.predict(a) / measure(a) - 1 for a in held_out]

    def se_share(a):  # of the blocks' latency
        ms = [(table.raw_block_ms(b, hw), b.se) for b, hw in zip(a.blocks, a.feature_sizes(), strict=False)]
        return sum(t for t, se in ms if se) / sum(t for t, _ in ms)

    assert max(abs(e) for e in errors) > 0.03
    assert np.corrcoef([se_share(a) for a in held_out], errors)[0, 1] < -0.6  # more SE: more under-predicted


@pytest.mark.parametrize("fresh", [True, False])
def test_a_calibration_times_its_session_and_noise_repeats_in_one_fresh_worker(spaces, monkeypatch, fresh):
    """Every calibration starts from the same state, a fresh process (docs/latency.md, "Small inputs"): its
    networks and the noise floor's repeats are timed in one worker; ``fresh_process: false`` keeps
    them in the calling process."""
    import tfnas_kedro.nas.calibration as calibration
    import tfnas_kedro.nas.profiler as profiler

    workers = []

    def in_this_process(fn, *args):  # stands in for the worker: records the call, then makes it
        workers.append(fn.__name__)
        return fn(*args)

    monkeypatch.setattr(profiler, "in_fresh_process", in_this_process)
    space = spaces["tfnas"]
    table = synthetic_table(space, resolution=32, num_classes=10, step=512)
    table = LatencyTable(table.meta.with_changes(reference_ms=1.0), table.entries)
    settings = ProfilerSettings(warmup=0, repeats=1, rounds=1, remeasure=0, fresh_process=fresh)
    held_out = [zoo_arch("TF-NAS-D", resolution=32, num_classes=10)]
    _, _, _, summary = calibration.calibrate_and_check(table, space, held_out, settings, samples=4, noise_repeats=2)
    assert workers == (["_time_session"] if fresh else [])  # one worker, which times in its own process
    assert len(summary.noise_floor.ms) == 3 and summary.models == 1


def test_a_table_whose_metadata_has_a_misspelt_or_missing_key_is_refused_with_the_key_named(spaces):
    meta = meta_to_dict(synthetic_table(spaces["tfnas"], resolution=32, num_classes=10, step=512).meta)
    misspelt = {**meta, "calibration": {"scale": 1.2, "scals": {"32": 1.5}}}
    with pytest.raises(ConfigError, match=r"latency table metadata\.calibration\.scals: Extra inputs") as caught:
        meta_from_dict(misspelt)
    assert "kedro run --pipelines latency" in str(caught.value)  # the remedy
    with pytest.raises(ConfigError, match=r"latency table metadata\.device: Field required"):
        meta_from_dict({k: v for k, v in meta.items() if k != "device"})
    with pytest.raises(ConfigError, match=r"latency table metadata\.runtime\.name"):
        meta_from_dict({**meta, "runtime": {"name": "tflite"}})
    # a table from before calibration or the channel block reads them at their defaults
    old = meta_from_dict({k: v for k, v in meta.items() if k not in ("calibration", "channel_block")})
    assert old.calibration.scale == 1.0 and old.calibration.held_out is None and old.channel_block == 0
