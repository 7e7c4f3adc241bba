import copy

import pytest
import yaml

from tfnas_kedro.nas import ConfigError, SearchSpace, load_search_spaces, zoo_arch, zoo_names


def _raw(project_root, name="tfnas"):
    data = yaml.safe_load((project_root / "conf/base/parameters_search_spaces.yml").read_text())
    return copy.deepcopy(data["search_spaces"][name])


def test_three_spaces_load(spaces):
    assert set(spaces) == {"tfnas", "tfnas_wose", "tfnas_lite", "mbv2"}


def test_tfnas_space_matches_the_method(spaces):
    space = spaces["tfnas"]
    assert [s.out for s in space.stages] == [24, 40, 80, 112, 192, 320]
    assert [s.stride for s in space.stages] == [2, 2, 2, 1, 2, 1]
    assert [(s.min_depth, s.max_depth) for s in space.stages] == [(1, 2), (1, 3), (1, 4), (1, 4), (1, 4), (1, 1)]
    assert [s.act for s in space.stages] == ["relu"] + ["swish"] * 5
    assert len(space.positions()) == 18 and sum(s.min_depth for s in space.stages) == 6
    assert len(space.ops) == 8
    first = space.positions()[0]
    assert (first.cin, first.cout, first.stride, first.input_hw) == (16, 24, 2, 112)
    # widths: e3 in [2, 4] * Cin, e6 in [4, 8] * Cin; SE hidden = Cin (e3) or 2 * Cin (e6)
    assert space.ops["k3_e3"].mid_range(40) == (80, 160) and space.ops["k5_e6"].mid_range(40) == (160, 320)
    assert space.ops["k3_e3_se"].se_width(40) == 40 and space.ops["k5_e6_se"].se_width(40) == 80
    assert space.ops["k3_e6"].init_mid(40) == 240
    assert space.fixed_blocks[0].se == 8 and space.head.out == 1280


def test_variants(spaces):
    assert all(op.se == 0 for op in spaces["tfnas_wose"].ops.values())
    assert spaces["tfnas_wose"].fixed_blocks[0].se == 0
    mbv2 = spaces["mbv2"]
    assert [s.out for s in mbv2.stages] == [24, 32, 64, 96, 160, 320]
    assert {s.act for s in mbv2.stages} == {"relu6"} and mbv2.stem.act == "relu6" and mbv2.head.act == "relu6"
    assert set(mbv2.ops) == {"k3_e3", "k3_e6", "k5_e3", "k5_e6"}


@pytest.mark.parametrize("name", zoo_names())
def test_every_published_model_lies_in_its_space(spaces, name):
    arch = zoo_arch(name)
    assert spaces[arch.space].explain_mismatch(arch) == []


def test_explain_mismatch_finds_foreign_blocks(spaces):
    arch = zoo_arch("TF-NAS-A")
    assert spaces["tfnas_wose"].explain_mismatch(arch)  # SE ops do not exist without SE
    assert spaces["mbv2"].explain_mismatch(arch)


def test_build_arch_round_trips_through_the_space(spaces):
    space = spaces["tfnas"]
    depths = [2, 3, 4, 4, 4, 1]
    ops = [["k5_e6_se"] * d for d in depths]
    arch = space.build_arch(depths, ops, name="widest")
    assert len(arch.blocks) == 1 + sum(depths)
    assert space.explain_mismatch(arch) == []
    narrow = space.build_arch([1] * 6, [["k3_e3"]] * 6)
    assert len(narrow.blocks) == 7 and narrow.blocks[1].mid == 3 * 16


def test_build_arch_rejects_out_of_space_choices(spaces):
    space = spaces["tfnas"]
    with pytest.raises(ConfigError, match="depth 3 outside"):
        space.build_arch([3, 1, 1, 1, 1, 1], [["k3_e3"] * 3] + [["k3_e3"]] * 5)
    with pytest.raises(ConfigError, match="mid 200 outside"):
        space.build_arch([1] * 6, [["k3_e3"]] * 6, mids=[[200], [120], [240], [480], [672], [1152]])


def _error(raw) -> str:
    with pytest.raises(ConfigError) as info:
        SearchSpace.from_dict(raw, "tfnas")
    return str(info.value)


def test_unknown_op_in_stage(project_root):
    raw = _raw(project_root)
    raw["stages"][2]["ops"] = ["k3_e3", "k7_e6"]
    message = _error(raw)
    assert "search_spaces.tfnas" in message and "stages[2].ops" in message and "k7_e6" in message


def test_min_depth_above_max_depth(project_root):
    raw = _raw(project_root)
    raw["stages"][1]["min_depth"] = 4
    message = _error(raw)
    assert "search_spaces.tfnas.stages[1]" in message and "min_depth (4) > max_depth (3)" in message


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        ({"min": 2, "max": 4, "init": 5}, "init (5"),
        ({"min": 0.5, "max": 4, "init": 3}, "min (0.5) <= 1"),
        # as wide as its input: no expansion convolution in the network, one in the supernet
        ({"min": 1, "max": 4, "init": 3}, "min (1.0) <= 1: an op at 1 x Cin has no expansion convolution"),
    ],
)
def test_width_range_outside_bounds(project_root, width, expected):
    raw = _raw(project_root)
    raw["ops"]["k3_e3"]["width"] = width
    message = _error(raw)
    assert "search_spaces.tfnas.ops.k3_e3.width" in message and expected in message


def test_bad_stride(project_root):
    raw = _raw(project_root)
    raw["stages"][4]["stride"] = 3
    assert _error(raw) == "search_spaces.tfnas.stages[4].stride: stride must be 1 or 2, got 3"


def test_misspelt_key_is_an_error(project_root):
    raw = _raw(project_root)
    raw["stages"][0]["max_dpeth"] = 3
    assert "stages[0].max_dpeth" in _error(raw)


def test_load_from_yaml_file(tmp_path, project_root):
    raw = _raw(project_root, "mbv2")
    raw["stages"][0]["min_depth"] = 0
    (tmp_path / "spaces.yml").write_text(yaml.safe_dump({"search_spaces": {"mine": raw}}))
    with pytest.raises(ConfigError, match=r"search_spaces\.mine\.stages\[0\]\.min_depth"):
        load_search_spaces(tmp_path / "spaces.yml")
