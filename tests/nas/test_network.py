import pytest
import torch

from tfnas_kedro.nas import ArchDescription, build_network, zoo_arch, zoo_names
from tfnas_kedro.nas.blocks import MBInvRes


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_shapes_at_224_and_64(name):
    net = build_network(zoo_arch(name)).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
        assert net(torch.randn(2, 3, 64, 64)).shape == (2, 1000)
        assert net.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 1280)


def test_any_number_of_classes_and_non_square_input():
    net = build_network(zoo_arch("TF-NAS-D", num_classes=17)).eval()
    with torch.no_grad():
        assert net(torch.randn(3, 3, 96, 128)).shape == (3, 17)


def test_input_smaller_than_total_stride_is_a_clear_error():
    net = build_network(zoo_arch("TF-NAS-D")).eval()
    with pytest.raises(ValueError, match="total stride 32"):
        net(torch.randn(1, 3, 16, 16))


def _blocks(name="TF-NAS-A"):
    return [m for m in build_network(zoo_arch(name)).modules() if isinstance(m, MBInvRes)]


def test_first_block_has_no_expansion_conv_and_the_rest_do():
    blocks = _blocks()
    assert isinstance(blocks[0].expand, torch.nn.Identity) and blocks[0].spec.mid == blocks[0].spec.in_
    first_depthwise = blocks[0].depthwise[0]
    assert first_depthwise.in_channels == 32 and first_depthwise.groups == 32
    assert all(isinstance(b.expand[0], torch.nn.Conv2d) for b in blocks[1:])


def test_se_only_where_described_and_on_the_depthwise_width():
    for block in _blocks():
        if block.spec.se:
            assert block.se.reduce.in_channels == block.spec.mid and block.se.reduce.out_channels == block.spec.se
        else:
            assert isinstance(block.se, torch.nn.Identity)


def test_residual_exactly_when_stride_one_and_same_width():
    blocks = _blocks()
    assert [b.has_residual for b in blocks] == [b.spec.stride == 1 and b.spec.in_ == b.spec.out for b in blocks]
    assert any(b.has_residual for b in blocks) and not all(b.has_residual for b in blocks)


def test_residual_really_adds_the_input():
    block = _blocks()[2]  # k5, 24 -> 24, stride 1
    assert block.has_residual
    for p in block.project[1].parameters():  # zero the projection's BN: the branch outputs zero
        torch.nn.init.zeros_(p)
    block.eval()
    x = torch.randn(2, 24, 8, 8)
    with torch.no_grad():
        assert torch.equal(block(x), x)


def test_projection_has_no_activation():
    block = _blocks()[3]
    assert len(block.project) == 2  # conv + BN
    assert len(block.depthwise) == 3 and isinstance(block.depthwise[2], torch.nn.SiLU)


def test_drop_connect_drops_whole_samples_in_training_only():
    arch = zoo_arch("TF-NAS-A")
    net = build_network(arch, drop_connect_rate=0.5)
    rates = [b.drop_connect_rate for b in net.blocks]
    assert rates[0] == 0.0 and rates == sorted(rates) and rates[-1] < 0.5
    block = net.blocks[len(rates) - 2]
    assert block.has_residual and block.drop_connect_rate > 0.4
    x = torch.randn(64, block.spec.in_, 4, 4)
    torch.manual_seed(0)
    block.train()
    with torch.no_grad():
        out = block(x)
    dropped = [(out[i] == x[i]).all().item() for i in range(64)]
    assert 10 < sum(dropped) < 54  # about half of the samples pass through unchanged
    block.eval()
    with torch.no_grad():
        assert not any((block(x)[i] == x[i]).all().item() for i in range(64))


def test_dropout_rate_comes_from_the_description():
    net = build_network(zoo_arch("TF-NAS-D"))
    assert net.dropout.p == zoo_arch("TF-NAS-D").dropout == 0.1
    with pytest.raises(ValueError, match="drop_connect_rate"):
        build_network(zoo_arch("TF-NAS-D"), drop_connect_rate=1.0)


def test_build_from_plain_json():
    text = zoo_arch("TF-NAS-MBV2-A").to_json()
    net = build_network(ArchDescription.from_json(text))
    assert isinstance(net.stem[2], torch.nn.ReLU6)


def test_zero_init_residual_starts_every_residual_block_as_the_identity():
    net = build_network(zoo_arch("TF-NAS-A", num_classes=10), zero_init_residual=True).eval()
    residual = [b for b in net.blocks if b.has_residual]
    assert len(residual) == 12
    x = torch.randn(2, residual[0].spec.in_, 8, 8)
    with torch.no_grad():
        for block in residual:
            x = torch.randn(2, block.spec.in_, 8, 8)
            assert torch.equal(block(x), x)
        # blocks that change the shape keep their full-scale projection
        assert all(b.project[1].weight.abs().min() > 0 for b in net.blocks if not b.has_residual)


def test_without_zero_init_residual_blocks_add_their_branch():
    net = build_network(zoo_arch("TF-NAS-A", num_classes=10)).eval()
    block = next(b for b in net.blocks if b.has_residual)
    x = torch.randn(2, block.spec.in_, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(block(x), x)
