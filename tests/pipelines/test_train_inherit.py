"""``train.init: inherit``: the searched architecture fine-tuned from the supernet's weights."""

import pytest
import torch

from tests.conftest import synthetic_table
from tests.nas.test_search import _loaders
from tests.nas.test_warm_start import _small_source
from tfnas_kedro.nas.search import SearchConfig, Searcher
from tfnas_kedro.pipelines.train.nodes import inherited_weights
from tfnas_kedro.training import TrainConfig, TrainingJob
from tfnas_kedro.training.distributed import prepare_model


@pytest.fixture
def searched(small_space, tmp_path):
    """A one-epoch warm-started search of the small space, its checkpoint on disk, and its derived path."""
    table = synthetic_table(small_space, resolution=32, num_classes=4, step=4, slopes=(0.01, 0.05))
    config = SearchConfig(epochs=1, warmup_epochs=1, seed=2, init="small-net")
    searcher = Searcher(small_space, table, 4, config, torch.device("cpu"), checkpoint_dir=tmp_path / "ckpt")
    train, arch, val = _loaders()
    searcher.start_from(_small_source(small_space), val, val)
    searcher.run(train, arch, val)
    subnet = searcher.strongest()
    return searcher, subnet, subnet.to_arch(searcher.space, 4, name="searched")


def test_inherit_loads_exactly_the_derived_subnets_weights(searched):
    searcher, subnet, arch = searched
    weights = inherited_weights(arch, searcher.result(), subnet.as_dict(), {"init": "inherit"})
    expected = searcher.supernet.active_subnet(subnet).state_dict()
    assert weights.keys() == expected.keys() and all(torch.equal(weights[k], expected[k]) for k in expected)
    recipe = TrainConfig(epochs=2, warmup_epochs=1)
    job = TrainingJob(arch=arch, config=recipe, train_data=None, val_data=None, initial_weights=weights)
    model = prepare_model(arch, job)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())  # every tensor, none fresh
    # the first searched block holds its op's inherited channels, BatchNorm scale and shift included
    j, position, name = subnet.active(searcher.space)[0]
    op = searcher.supernet.layers[j].ops[subnet.ops[j]]
    channels = op.channels(subnet.widths[j][name])
    block = model.blocks[len(searcher.space.fixed_blocks)]
    assert torch.equal(block.depthwise[0].weight, op.depthwise.index_select(0, channels))
    assert torch.equal(block.depthwise[1].weight, op.depthwise_bn[0].index_select(0, channels))
    assert inherited_weights(arch, searcher.result(), subnet.as_dict(), {"init": "scratch"}) == {}


def test_inherit_refuses_a_summary_whose_subnet_is_another_architecture(searched):
    searcher, subnet, arch = searched
    other = subnet.with_depth(0, 2 if subnet.depths[0] == 1 else 1)
    with pytest.raises(ValueError, match="the searched subnet is not the architecture being trained"):
        inherited_weights(arch, searcher.result(), other.as_dict(), {"init": "inherit"})
