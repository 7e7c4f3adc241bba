"""ExecuTorch programs lowered to XNNPACK: what `latency.runtime: executorch` times."""

import re

import pytest
import torch
import yaml

from tests.conftest import SMALL_SPACE_FILE
from tfnas_kedro.nas import BlockSpec
from tfnas_kedro.nas.blocks import MBInvRes
from tfnas_kedro.nas.errors import ConfigError
from tfnas_kedro.nas.executorch_programs import ExecuTorchCall, ProgramCache, executorch_version, lower
from tfnas_kedro.nas.profiler import ProfilerSettings
from tfnas_kedro.nas.space import load_search_spaces
from tfnas_kedro.nas.table_build import build_latency_table


def _block(mid: int = 48, se: int = 0, seed: int = 0) -> MBInvRes:
    torch.manual_seed(seed)
    return MBInvRes(BlockSpec(kernel=5, in_=16, mid=mid, se=se, out=16, stride=1, act="swish")).eval()


def test_a_lowered_program_is_delegated_to_xnnpack_and_gives_the_modules_outputs(tmp_path):
    block, x = _block(se=8), torch.randn(1, 16, 12, 12)
    program = lower(block, x)
    assert b"XnnpackBackend" in program  # the block runs in the delegate, not in portable kernels
    (tmp_path / "block.pte").write_bytes(program)
    call = ExecuTorchCall(tmp_path / "block.pte", x, threads=1)
    call(x)
    with torch.no_grad():
        torch.testing.assert_close(call.outputs()[0], block(x), rtol=1e-4, atol=1e-5)


def test_programs_are_cached_by_structure_and_input_shape_not_by_weights(tmp_path):
    cache = ProgramCache(tmp_path)
    same_a, same_b, wider = _block(seed=0), _block(seed=1), _block(mid=64)
    shape = (1, 16, 12, 12)
    assert cache.path(same_a, shape) == cache.path(same_b, shape) != cache.path(wider, shape)
    assert cache.path(same_a, shape) != cache.path(same_a, (1, 16, 8, 8))
    assert cache.lower_missing([(same_a, shape), (same_b, shape), (wider, shape)], workers=1) == 2
    assert cache.lower_missing([(same_b, shape), (wider, shape)], workers=1) == 0  # a rebuild lowers nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (cache.path(same_a, shape), cache.path(wider, shape))
    )  # and no partial file is left behind


def _one_layer_space():
    """The tests' space cut to one searchable layer with one op: a table of a few entries."""
    raw = yaml.safe_load(SMALL_SPACE_FILE.read_text())["search_spaces"]["small"]
    raw["stages"] = raw["stages"][:1]
    raw["stages"][0].update(min_depth=1, max_depth=1)
    raw["ops"] = {"k3_e3": raw["ops"]["k3_e3"]}
    return load_search_spaces({"one_layer": raw})["one_layer"]


@pytest.mark.slow
def test_a_table_timed_in_executorch_names_its_version_and_a_search_with_another_is_refused(tmp_path, capfd):
    settings = ProfilerSettings(warmup=1, repeats=2, rounds=1, remeasure=0, runtime="executorch")
    settings = ProfilerSettings(**{**settings.describe(), "program_cache": str(tmp_path)})
    table = build_latency_table(
        [_one_layer_space()], resolution=32, num_classes=10, width_step=512, settings=settings, channel_block=0
    )
    installed = executorch_version()
    assert table.meta.runtime.model_dump(exclude_none=True) == {
        "name": "executorch",
        "version": installed,
        "backend": "XnnpackBackend",
        "threads": 1,
    }
    assert (table.entries["ms"] > 0).all() and table.meta.base_ms > 0
    lowered = len(list(tmp_path.glob("*.pte")))
    # every entry (lowered in worker processes, several to a pass), the stem and head, the reference
    assert lowered == len(table.entries) + 3
    # and quietly: each worker importing ExecuTorch used to print torch's notice about its Enum
    assert "is an Enum subclass" not in capfd.readouterr().err
    build_latency_table(
        [_one_layer_space()], resolution=32, num_classes=10, width_step=512, settings=settings, channel_block=0
    )
    assert len(list(tmp_path.glob("*.pte"))) == lowered  # the rebuild found every program cached
    table.check_device("cpu", 32, "one_layer", runtime="executorch", runtime_version=installed)
    with pytest.raises(ConfigError, match=re.escape(f"executorch {installed}, but executorch 0.9.0 is installed")):
        table.check_device("cpu", 32, "one_layer", runtime="executorch", runtime_version="0.9.0")
    with pytest.raises(ConfigError, match="timed in executorch .* but runtime 'onnxruntime' is configured"):
        table.check_device("cpu", 32, "one_layer", runtime="onnxruntime")


def test_blocks_lowered_in_one_pass_are_each_a_whole_program_of_their_own(tmp_path):
    from tfnas_kedro.nas.executorch_groups import lower_together

    strided = MBInvRes(BlockSpec(kernel=3, in_=16, mid=64, se=0, out=24, stride=2, act="relu")).eval()
    blocks = [_block(mid=32), _block(mid=48, se=8), strided]
    inputs = [torch.randn(1, 16, 12, 12), torch.randn(1, 16, 12, 12), torch.randn(1, 16, 8, 8)]
    programs = lower_together(blocks, inputs)
    assert programs is not None and len(programs) == 3  # split, not lowered one at a time
    for n, (block, x, program) in enumerate(zip(blocks, inputs, programs, strict=True)):
        (tmp_path / f"{n}.pte").write_bytes(program)
        call = ExecuTorchCall(tmp_path / f"{n}.pte", x, threads=1)
        call(x)
        with torch.no_grad():
            torch.testing.assert_close(call.outputs()[0], block(x), rtol=1e-4, atol=1e-5)
