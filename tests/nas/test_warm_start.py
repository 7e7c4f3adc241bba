"""A supernet warm-started from a pretrained MBConv network (nas/warm_start.py)."""

import pytest
import torch
from torch import nn

from tests.conftest import synthetic_table
from tfnas_kedro.data.pretrained import load_efficientnet_lite0, warm_start_source
from tfnas_kedro.nas import build_network, load_search_spaces
from tfnas_kedro.nas.parallel import BN_EPS
from tfnas_kedro.nas.sampling import PathChoice
from tfnas_kedro.nas.search import SearchConfig, Searcher
from tfnas_kedro.nas.search.probe import fit_linear_probe
from tfnas_kedro.nas.supernet import Supernet, derive_architecture
from tfnas_kedro.nas.warm_start import (
    ConvBN,
    PretrainedBlock,
    WarmStartError,
    check_fits,
    fit_kernel,
    from_network,
    inherit_op,
    kept_channels,
    warm_start,
)


@pytest.fixture(scope="module")
def spaces(project_root):
    return load_search_spaces(project_root / "conf" / "base" / "parameters_search_spaces.yml")


@pytest.fixture(scope="module")
def lite0():
    """EfficientNet-Lite0 with its ImageNet weights (shipped with a package: no download): the
    network, and the warm-start source ``search.init: efficientnet_lite0`` names."""
    return load_efficientnet_lite0().features.body, warm_start_source("efficientnet_lite0")


def test_a_larger_kernel_is_centre_cropped_and_a_smaller_one_zero_padded():
    five = torch.arange(25.0).view(1, 1, 5, 5)
    assert torch.equal(fit_kernel(five, 3), five[..., 1:4, 1:4])
    three = torch.arange(9.0).view(1, 1, 3, 3)
    padded = fit_kernel(three, 5)
    assert padded.shape == (1, 1, 5, 5) and torch.equal(padded[..., 1:4, 1:4], three)
    assert padded.abs().sum() == three.abs().sum()  # the ring is zeros


def _block(mid=6, cin=2, cout=2, kernel=3) -> PretrainedBlock:
    torch.manual_seed(0)
    depthwise = torch.randn(mid, 1, kernel, kernel)
    depthwise[:, :, :, :] *= torch.arange(1.0, mid + 1).view(-1, 1, 1, 1)  # channel i: importance grows with i
    depthwise[[1, 4]] *= 100  # the two most important: 1 and 4
    bn = torch.stack([torch.arange(1.0, mid + 1), -torch.arange(1.0, mid + 1)])
    return PretrainedBlock(
        depthwise=ConvBN(depthwise, bn),
        project=ConvBN(torch.randn(cout, mid, 1, 1), torch.stack([torch.full((cout,), 2.0), torch.ones(cout)])),
        stride=1,
        expand=ConvBN(torch.randn(mid, cin, 1, 1), bn.clone()),
    )


def test_a_narrower_op_keeps_the_most_important_expanded_channels_in_their_order():
    block = _block()
    assert kept_channels(block, 2).tolist() == [1, 4]
    assert kept_channels(block, 3).tolist() == [1, 4, 5]  # then the next by importance, in channel order
    assert kept_channels(block, 8).tolist() == list(range(6))  # a wider op keeps them all


def _op(space, position_index, name, affine=True):
    supernet = Supernet(space, num_classes=3, affine=affine)
    j = position_index
    return supernet, supernet.layers[j].ops[supernet.positions[j].ops.index(name)]


def test_a_wider_op_adds_channels_that_contribute_nothing_and_are_picked_last(small_space):
    supernet, op = _op(small_space, 1, small_space.stage_ops(0)[0])
    cin = supernet.positions[1].cin
    block = _block(mid=op.expand.shape[0] // 2, cin=cin, cout=supernet.positions[1].cout)
    inherit_op(op, block)
    n = block.mid
    assert torch.equal(op.project[:, n:], torch.zeros_like(op.project[:, n:]))
    importance = op.importance()
    assert importance[n:].max() < importance[:n].min()  # a width takes every pretrained channel first
    assert torch.equal(op.expand_bn[:, :n], block.expand.bn) and torch.equal(op.project_bn, block.project.bn)


def test_a_layer_beyond_the_pretrained_depth_is_the_identity(small_space):
    supernet, op = _op(small_space, 1, small_space.stage_ops(0)[0])
    position = supernet.positions[1]
    assert position.stride == 1 and position.cin == position.cout  # a residual layer
    block = _block(mid=op.expand.shape[0], cin=position.cin, cout=position.cout)
    for candidate in supernet.layers[1].ops:
        inherit_op(candidate, block, identity=True)
    x = torch.randn(4, position.cin, 8, 8)
    for index in range(len(supernet.layers[1].ops)):
        assert torch.allclose(supernet.layers[1](x.clone(), op=index), x)


def _lite0_path(space, net):
    """Lite0's ops (its kernel, expansion 6) and depths as a path through ``space``."""
    stages = net.stages(len(space.fixed_blocks))
    path, depths = [], []
    for position in space.positions():
        blocks = stages[position.stage]
        kernel = blocks[min(position.layer, len(blocks) - 1)].kernel
        path.append(position.ops.index(f"k{kernel}_e6"))
    depths = [len(blocks) for blocks in stages]
    return PathChoice(path=path, depths=depths)


def test_the_pretrained_path_gives_the_pretrained_networks_outputs(spaces, lite0):
    """In tfnas_lite (Lite0's activations, no SE) the path of Lite0's own ops and depths computes
    Lite0's features, with batch statistics on both sides, right after the warm start."""
    body, source = lite0
    space = spaces["tfnas_lite"].at_resolution(64)
    supernet = Supernet(space, num_classes=10, affine=True)
    report = warm_start(supernet, source)
    assert report["stage_depths"] == [2, 2, 3, 3, 4, 1] and report["identity_layers"] == 3
    reference = nn.Sequential(*body).train()  # batch statistics, as the search's BatchNorm
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = BN_EPS
    supernet.classifier = nn.Identity()
    torch.manual_seed(1)
    x = torch.randn(8, 3, 64, 64)
    with torch.no_grad():
        expected = torch.flatten(nn.functional.adaptive_avg_pool2d(reference(x), 1), 1)
        got = supernet(x, _lite0_path(space, source))
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()


def test_a_network_that_does_not_fit_the_space_is_refused_naming_where_and_both_shapes(spaces, lite0):
    _, source = lite0
    narrow = spaces["tfnas_lite"].model_copy(
        update={
            "stages": [
                s.model_copy(update={"out": 48}) if i == 1 else s for i, s in enumerate(spaces["tfnas_lite"].stages)
            ]
        }
    )
    with pytest.raises(WarmStartError, match=r"stage 1 \(out, stride, depth\) is \(40, 2, 2\) in efficientnet_lite0"):
        check_fits(narrow, source)
    shallow = spaces["tfnas_lite"].model_copy(
        update={
            "stages": [
                s.model_copy(update={"max_depth": 2}) if i == 4 else s
                for i, s in enumerate(spaces["tfnas_lite"].stages)
            ]
        }
    )
    with pytest.raises(WarmStartError, match=r"stage 4 .* is \(192, 2, 4\) .* \(192, 2, 2\) \(depth at most\)"):
        warm_start(Supernet(shallow, num_classes=3, affine=True), source)


def test_a_linear_probe_separates_separable_features():
    torch.manual_seed(0)
    labels = torch.arange(60) % 3
    features = torch.randn(60, 16) + 4 * nn.functional.one_hot(labels, 16).float()
    weight, bias = fit_linear_probe(features, labels, num_classes=3)
    assert weight.shape == (3, 16) and ((features @ weight.T + bias).argmax(1) == labels).all()


def _small_architecture(small_space):
    """A path of the small space with every stage at depth 1, op 0 everywhere, 4 classes."""
    space = small_space.at_resolution(32)
    alpha = [torch.zeros(len(p.ops)) for p in space.positions()]
    beta = [torch.tensor([1.0] + [0.0] * (s.max_depth - 1)) for s in space.stages]
    return derive_architecture(space, alpha, beta, Supernet(space, 4).widths(), 4, name="small-net")


def _small_source(small_space):
    """A "pretrained" network of the small space (random weights)."""
    torch.manual_seed(3)
    return from_network(build_network(_small_architecture(small_space)), "small-net")


def test_a_warm_started_search_records_its_start_and_resumes_with_the_inherited_weights(small_space, tmp_path):
    from tests.nas.test_search import _loaders

    source = _small_source(small_space)
    table = synthetic_table(small_space, resolution=32, num_classes=4, step=4, slopes=(0.01, 0.05))
    config = SearchConfig(epochs=2, warmup_epochs=2, seed=1, init="small-net")
    searcher = Searcher(small_space, table, 4, config, torch.device("cpu"), checkpoint_dir=tmp_path / "ckpt")
    train, arch, val = _loaders()
    report = searcher.start_from(source, val, val)
    assert report["stage_depths"] == [1, 1, 1, 1] and report["identity_layers"] == 4
    assert torch.equal(searcher.supernet.stem[0].weight, source.stem.weight)
    assert torch.equal(searcher.supernet.stem[1].weight, source.stem.bn[0])
    history = searcher.run(train, arch, val, until=1)
    assert history[0]["start_val_top1"] == report["start"]["val_top1"]
    assert 0 <= history[0]["start_val_top1_random_paths"] <= 1
    resumed = Searcher(small_space, table, 4, config, torch.device("cpu"), checkpoint_dir=tmp_path / "ckpt")
    assert resumed.resume() and resumed.epoch == 1
    for name, value in searcher.supernet.state_dict().items():  # the affine BatchNorm included
        assert torch.equal(resumed.supernet.state_dict()[name], value), name
    scratch = SearchConfig(epochs=2, warmup_epochs=2, seed=1)
    assert scratch.run_settings() != config.run_settings()  # another search: its own checkpoint folder


def test_a_torchvision_efficientnet_b0_checkpoint_warm_starts_the_tfnas_space_with_its_squeeze_excitation(
    spaces, tmp_path
):
    """EfficientNet-B0 (torchvision's layout; random weights: the ImageNet ones download) has the
    TF-NAS channel plan and SE on every block: the fixed block's SE (8 hidden units in both) is
    B0's, and a wider SE op keeps B0's gate in its first hidden units, the rest silent."""
    from torchvision.models import efficientnet_b0

    torch.manual_seed(0)
    path = tmp_path / "b0.pth"
    torch.save(efficientnet_b0(weights=None).state_dict(), path)
    source = warm_start_source(str(path))
    space = spaces["tfnas"].at_resolution(64)
    assert [len(stage) for stage in check_fits(space, source)] == [2, 2, 3, 3, 4, 1]
    supernet = Supernet(space, num_classes=10, affine=True)
    warm_start(supernet, source)
    fixed, block = supernet.fixed[0], source.blocks[0]
    assert torch.equal(fixed.se.reduce.weight, block.se[0]) and torch.equal(fixed.se.expand.bias, block.se[3])
    layer = supernet.layers[0]  # stage 0, layer 0: B0's block 1 (16 -> 24, expansion 6, kernel 3)
    op = layer.ops[supernet.positions[0].ops.index("k3_e6_se")]
    pretrained = source.blocks[1]
    hidden = pretrained.se[0].shape[0]  # 4 in B0, 32 in the op
    mid = pretrained.mid  # 96 of the op's 128
    assert torch.equal(op.se_reduce.weight[:hidden, :mid], pretrained.se[0])
    assert torch.equal(op.se_expand.weight[:mid, :hidden], pretrained.se[2])
    assert not op.se_expand.weight[:, hidden:].any()  # extra hidden units add nothing to the gate
    assert torch.equal(op.depthwise[:mid], pretrained.depthwise.weight)
