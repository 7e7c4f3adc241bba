import copy
import json

import pytest

from tfnas_kedro.nas import ArchDescription, ConfigError, zoo_arch


@pytest.fixture
def arch_dict():
    return zoo_arch("TF-NAS-D").to_dict()


def test_json_round_trip_is_exact():
    arch = zoo_arch("TF-NAS-A")
    text = arch.to_json()
    again = ArchDescription.from_json(text)
    assert again == arch
    assert again.to_json() == text
    # one block per line keeps diffs readable
    assert sum(line.strip().startswith('{"kernel"') for line in text.splitlines()) == len(arch.blocks)


def test_save_and_load_file(tmp_path):
    arch = zoo_arch("TF-NAS-MBV2-B")
    arch.save(tmp_path / "a.json")
    assert ArchDescription.load(tmp_path / "a.json") == arch


def test_json_uses_in_not_python_name():
    row = json.loads(zoo_arch("TF-NAS-B").to_json())["blocks"][0]
    assert set(row) == {"kernel", "in", "mid", "se", "out", "stride", "act"}


def _error(data) -> str:
    with pytest.raises(ConfigError) as info:
        ArchDescription.from_dict(data)
    return str(info.value)


def test_channel_mismatch_between_blocks_names_both(arch_dict):
    arch_dict["blocks"][3]["in"] += 1
    assert "blocks[3].in" in _error(arch_dict) and "blocks[2].out" in _error(arch_dict)


def test_stem_to_first_block_mismatch(arch_dict):
    arch_dict["stem"]["out"] = 48
    assert "stem.out" in _error(arch_dict)


def test_mid_smaller_than_in_is_rejected(arch_dict):
    arch_dict["blocks"][2]["mid"] = arch_dict["blocks"][2]["in"] - 1
    message = _error(arch_dict)
    assert message.startswith("blocks[2]:") and "mid" in message


def test_unknown_activation_names_key_and_choices(arch_dict):
    arch_dict["blocks"][5]["act"] = "gelu"
    message = _error(arch_dict)
    assert "blocks[5].act" in message and "gelu" in message and "swish" in message


@pytest.mark.parametrize("field", ["in", "mid", "out"])
def test_non_positive_widths(arch_dict, field):
    bad = copy.deepcopy(arch_dict)
    bad["blocks"][4][field] = 0
    assert f"blocks[4].{field}" in _error(bad)


def test_negative_se_and_head_width(arch_dict):
    arch_dict["blocks"][1]["se"] = -1
    arch_dict["head"]["out"] = 0
    message = _error(arch_dict)
    assert "blocks[1].se" in message and "head.out" in message


def test_even_kernel_and_bad_stride(arch_dict):
    arch_dict["blocks"][1]["kernel"] = 4
    arch_dict["blocks"][2]["stride"] = 3
    message = _error(arch_dict)
    assert "blocks[1].kernel" in message and "blocks[2].stride" in message


def test_resolution_that_collapses_to_zero(arch_dict):
    arch_dict["resolution"] = 16  # total stride is 32
    message = _error(arch_dict)
    assert "resolution 16 collapses" in message and "32" in message
    with pytest.raises(ValueError, match="collapses"):
        zoo_arch("TF-NAS-A").feature_sizes(31)


def test_unknown_keys_are_errors(arch_dict):
    arch_dict["blocks"][0]["expand"] = 6
    assert "blocks[0].expand" in _error(arch_dict)


def test_feature_sizes_follow_strides():
    arch = zoo_arch("TF-NAS-A")
    sizes = arch.feature_sizes(224)
    assert sizes[0] == 112 and sizes[-1] == 7
    assert arch.feature_sizes(64)[-1] == 2
    assert arch.total_stride == 32


def test_with_updates_revalidates():
    arch = zoo_arch("TF-NAS-C").with_updates(num_classes=10)
    assert arch.num_classes == 10 and arch.blocks == zoo_arch("TF-NAS-C").blocks
    with pytest.raises(ConfigError, match="num_classes"):
        arch.with_updates(num_classes=0)
