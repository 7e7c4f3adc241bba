"""Every parameter is checked before any node runs; a misspelt key is named, never ignored."""

import copy

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from tests.conftest import PROJECT_ROOT
from tfnas_kedro.nas.errors import ConfigError
from tfnas_kedro.parameter_check import check_parameters
from tfnas_kedro.params import LatencyParams, parse_params


def _parameters(env: str = "local") -> dict:
    loader = OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env, merge_strategy={"parameters": "soft"}
    )
    return loader["parameters"]


@pytest.mark.parametrize("env", ["local", "demo_learning", "paper"])
def test_every_environment_of_the_project_passes(env):
    check_parameters(_parameters(env))


def _with(path: str, value) -> dict:
    params = copy.deepcopy(_parameters())
    *parents, last = path.split(".")
    node = params
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return params


@pytest.mark.parametrize(
    "path",
    [
        "search.epoch",
        "target.latency",
        "latency.batchsize",
        "train.lr_max",
        "report.titel",
        "zoo.resolutoin",
        "data.sorce",
        "transfer.dataset_name",
        "search.distributed.nproc",
        "serch",
    ],
)
def test_a_misspelt_key_is_named(path):
    with pytest.raises(ConfigError, match=f"params:{path.replace('.', '[.]')}: Extra inputs are not permitted"):
        check_parameters(_with(path, 1))


def test_the_target_is_not_a_search_setting():
    with pytest.raises(
        ConfigError, match="params:search: target_ms is not a search setting: set the target in params:target"
    ):
        check_parameters(_with("search.target_ms", 12))


def test_settings_merged_by_nodes_are_checked_as_the_nodes_merge_them():
    with pytest.raises(ConfigError, match="studies.lambda.runs.lambda_0p02_es_seed0 .*latency_lamda: Extra inputs"):
        check_parameters(_with("studies.lambda.runs.lambda_0p02_es_seed0.latency_lamda", 0.1))
    with pytest.raises(ConfigError, match="transfer_sets.cifar10 .*epoch: Extra inputs"):
        check_parameters(_with("transfer_sets.cifar10.epoch", 1))
    with pytest.raises(ConfigError, match="studies.search_quality.search.*warmup: Extra inputs"):
        check_parameters(_with("studies.search_quality.search.warmup", 1))
    with pytest.raises(ConfigError, match="latency_targets.fast.fraction"):
        check_parameters(_with("latency_targets.fast.fraction", 2.0))


def test_a_bad_value_is_named_with_its_key():
    with pytest.raises(ConfigError, match="params:search.batch_size"):
        check_parameters(_with("search.batch_size", 0))


def test_an_unset_channel_block_is_the_one_the_runtime_wants():
    """Without it an onnxruntime table at 224 was off by a median 11.6% (max 85%)."""
    base = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_latency.yml").read_text())["latency"]
    assert base["channel_block"] is None  # the demo leaves it to the runtime
    assert parse_params(LatencyParams, base, "latency").channel_block == 16  # eager PyTorch
    assert parse_params(LatencyParams, {**base, "runtime": "onnxruntime"}, "latency").channel_block == 4
    assert LatencyParams(runtime="onnxruntime", channel_block=0).channel_block == 0  # one grid, when asked for


def test_an_unset_width_step_is_the_runtimes_and_a_set_one_is_kept():
    """In ExecuTorch each width is a program to lower, and a grid 64 apart priced as well as a
    finer one (benchmarks/width_grid.py): an ExecuTorch table lowers half the programs."""
    base = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_latency.yml").read_text())["latency"]
    assert base["width_step"] is None  # the demo leaves it to the runtime
    assert parse_params(LatencyParams, base, "latency").width_step == 32  # eager PyTorch
    assert parse_params(LatencyParams, {**base, "runtime": "executorch"}, "latency").width_step == 64
    assert LatencyParams(runtime="executorch", width_step=8).width_step == 8  # the paper's grid, when asked for
