import pytest
import torch

from tfnas_kedro.nas.blocks import SearchBatchNorm
from tfnas_kedro.nas.sampling import PathChoice, path_choice
from tfnas_kedro.nas.search import frozen
from tfnas_kedro.nas.subnet import Subnet
from tfnas_kedro.nas.supernet import ElasticOp, Supernet, derive_architecture


@pytest.fixture
def small_space(spaces):
    return spaces["tfnas"].at_resolution(32)


def test_a_single_path_computes_exactly_the_standalone_network(small_space):
    torch.manual_seed(0)
    supernet = Supernet(small_space, num_classes=5)
    positions = supernet.positions
    widths = supernet.widths()
    g = torch.Generator().manual_seed(1)
    for j, p in enumerate(positions):  # random widths inside each op's range
        for name in p.ops:
            lo, hi = small_space.ops[name].mid_range(p.cin)
            widths[j][name] = int(torch.randint(lo, hi + 1, (1,), generator=g))
    supernet.set_widths(widths)
    path = [int(torch.randint(len(p.ops), (1,), generator=g)) for p in positions]
    depths = [2, 1, 3, 2, 4, 1]
    alpha = [
        torch.nn.functional.one_hot(torch.tensor(i), len(p.ops)).float() for i, p in zip(path, positions, strict=True)
    ]
    beta = [
        torch.nn.functional.one_hot(torch.tensor(d - 1), s.max_depth).float()
        for d, s in zip(depths, small_space.stages, strict=True)
    ]
    net = supernet.active_subnet(Subnet.of(depths, path, supernet.widths()))
    assert net.arch == derive_architecture(small_space, alpha, beta, supernet.widths(), 5, dropout=0.0)
    x = torch.randn(4, 3, 32, 32)
    net.train()  # BatchNorm on batch statistics, as in the search
    supernet.train()
    expected = net(x)
    assert torch.allclose(supernet(x, PathChoice(path=path, depths=depths)), expected, atol=1e-4)
    # sink-connecting with one-hot depth weights is the same network
    assert torch.allclose(supernet(x, PathChoice(path=path, depth_weights=beta)), expected, atol=1e-4)


def test_an_active_subnet_at_other_widths_carries_the_channels_set_widths_would_keep(small_space):
    torch.manual_seed(0)
    supernet = Supernet(small_space, num_classes=5)
    path, depths = [1] * len(supernet.positions), [s.max_depth for s in small_space.stages]
    narrower = [{n: small_space.ops[n].mid_range(p.cin)[0] for n in p.ops} for p in supernet.positions]
    net = supernet.active_subnet(Subnet.of(depths, path, narrower))  # the supernet's own widths stay
    assert supernet.widths() != narrower
    supernet.set_widths(narrower)
    x = torch.randn(2, 3, 32, 32)
    net.train()
    supernet.train()
    assert torch.allclose(net(x), supernet(x, PathChoice(path=path, depths=depths)), atol=1e-4)


def test_widths_keep_the_most_important_channels_and_dropped_ones_survive(small_space):
    supernet = Supernet(small_space, num_classes=3)
    op = supernet.layers[0].ops[1]  # k3_e6 at 16 -> 24: 64..128 channels
    with torch.no_grad():
        op.depthwise.zero_()
        op.depthwise[[5, 77, 100]] = 1.0
    widths = supernet.widths()
    lo = small_space.ops["k3_e6"].mid_range(16)[0]
    widths[0]["k3_e6"] = lo
    before = op.depthwise.detach().clone()
    supernet.set_widths(widths)
    kept = op.active
    assert len(kept) == lo and {5, 77, 100} <= set(kept.tolist())
    assert torch.equal(op.depthwise, before)  # nothing is deleted: the full-width weights stay
    widths[0]["k3_e6"] = lo - 1
    with pytest.raises(ValueError, match="outside"):
        supernet.set_widths(widths)


def test_mixture_forward_runs_every_op_and_backpropagates_to_alpha(small_space):
    supernet = Supernet(small_space, num_classes=3)
    alpha = [torch.zeros(len(p.ops), requires_grad=True) for p in supernet.positions]
    beta = [torch.zeros(s.max_depth, requires_grad=True) for s in small_space.stages]
    choice = PathChoice(op_weights=[a.softmax(0) for a in alpha], depth_weights=[b.softmax(0) for b in beta])
    out = supernet(torch.randn(2, 3, 32, 32), choice)
    out.sum().backward()
    assert out.shape == (2, 3)
    assert all(a.grad is not None for a in alpha) and all(b.grad is not None for b in beta)
    assert all(op.expand.grad is not None for op in supernet.layers[3].ops)


def test_activations_in_place_leave_every_gradient_as_it_was(small_space):
    torch.manual_seed(0)
    supernet = Supernet(small_space, num_classes=3)
    alpha = [torch.randn(len(p.ops), requires_grad=True) for p in supernet.positions]
    beta = [torch.randn(s.max_depth, requires_grad=True) for s in small_space.stages]
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 3, (4,))
    path = [int(torch.randint(len(a), (1,))) for a in alpha]
    leaves = [*supernet.parameters(), *alpha, *beta]

    def gradients() -> list[torch.Tensor]:
        for leaf in leaves:
            leaf.grad = None
        torch.nn.functional.cross_entropy(supernet(x, path_choice(path, alpha, beta)), y).backward()  # weight step
        mixture = PathChoice(op_weights=[a.softmax(0) for a in alpha], depth_weights=[b.softmax(0) for b in beta])
        with frozen(supernet):  # architecture step: the first layer's ops need no gradient at all
            torch.nn.functional.cross_entropy(supernet(x, mixture), y).backward()
        return [leaf.grad.clone() for leaf in leaves if leaf.grad is not None]

    in_place = gradients()
    ops = [m for m in supernet.modules() if isinstance(m, ElasticOp)]
    assert any(op.output_backward for op in ops)  # ReLU stages run in place even under autograd
    for op in ops:
        op.act_in_place = op.act
    out_of_place = gradients()
    assert len(in_place) == len(out_of_place) > len(alpha) + len(beta)
    assert all(torch.equal(a, b) for a, b in zip(in_place, out_of_place, strict=True))


def test_search_batchnorm_has_no_affine_parameters_or_running_statistics(small_space):
    supernet = Supernet(small_space, num_classes=3)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._NormBase) for m in supernet.modules())
    norms = [m for m in supernet.modules() if isinstance(m, SearchBatchNorm)]
    assert norms and all(not list(m.parameters()) and not list(m.buffers()) for m in norms)
    out = norms[0](torch.randn(4, 5, 6, 6) * 3 + 2)  # normalised with the batch's own statistics
    assert out.mean((0, 2, 3)).abs().max() < 1e-5 and (out.var((0, 2, 3), unbiased=False) - 1).abs().max() < 1e-3


def test_an_unchanged_width_keeps_exactly_its_channel_set(small_space):
    supernet = Supernet(small_space, num_classes=3)
    same, other = supernet.layers[0].ops[0], supernet.layers[0].ops[1]
    kept = same.active.clone()
    with torch.no_grad():  # training moved the importance: the top channels are now others
        for op in (same, other):
            op.depthwise.zero_()
            op.depthwise[-op.width :] = 1.0
    widths = supernet.widths()
    widths[0]["k3_e6"] -= 1
    assert supernet.set_widths(widths) == 1  # only the op whose width changed re-picks
    assert torch.equal(same.active, kept)
    assert other.width == widths[0]["k3_e6"] and set(other.active.tolist()) <= set(range(other.mid_range[1]))
    assert other.active.max() == other.mid_range[1] - 1  # re-picked by the new importance


def test_active_channels_of_any_width_load_from_a_state_dict(small_space):
    source, target = Supernet(small_space, num_classes=3), Supernet(small_space, num_classes=3)
    widths = source.widths()
    widths[2]["k5_e3"] = small_space.ops["k5_e3"].mid_range(small_space.positions()[2].cin)[0]
    source.set_widths(widths)
    target.load_state_dict(source.state_dict())
    assert target.widths() == source.widths()
    assert torch.equal(target.layers[2].ops[2].active, source.layers[2].ops[2].active)


def test_the_convolution_cache_holds_every_shape_of_a_supernet_scaled_op_by_op(small_space):
    import os

    supernet = Supernet(small_space, num_classes=3)
    ops = [op for layer in supernet.layers for op in layer.ops]
    # every op at its own width: expand, depthwise, project and the SE convs, forward and both backwards
    shapes = sum(3 + (2 if op.se_width else 0) for op in ops) * 3
    assert int(os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"]) >= 2 * shapes
