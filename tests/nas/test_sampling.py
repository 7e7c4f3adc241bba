import torch

from tfnas_kedro.nas.sampling import PathChoice, bi_sample, gumbel_max, gumbel_softmax, mixture_choice, uniform_path


def test_bi_sampling_never_draws_the_same_op_twice_and_covers_the_others():
    alpha = [torch.tensor([4.0, 0.0, 0.0, 0.0]), torch.zeros(8)]
    g = torch.Generator().manual_seed(0)
    firsts, seconds = [], []
    for _ in range(2000):
        first, second = bi_sample(alpha, g)
        assert all(a != b for a, b in zip(first, second, strict=True))
        firsts.append(first[0])
        seconds.append(second[0])
    firsts, seconds = torch.tensor(firsts), torch.tensor(seconds)
    # path 1 follows softmax(alpha): op 0 has probability e^4 / (e^4 + 3) = 0.948
    assert abs((firsts == 0).float().mean().item() - 0.948) < 0.02
    # path 2 is uniform over the other ops: when path 1 is op 0, ops 1-3 come up a third each
    others = seconds[firsts == 0]
    for op in (1, 2, 3):
        assert abs((others == op).float().mean().item() - 1 / 3) < 0.05


def test_gumbel_max_and_uniform_paths_are_seeded():
    alpha = [torch.randn(8) for _ in range(5)]
    assert uniform_path(alpha, torch.Generator().manual_seed(3)) == uniform_path(
        alpha, torch.Generator().manual_seed(3)
    )
    assert gumbel_max(alpha[0], torch.Generator().manual_seed(1)) == gumbel_max(
        alpha[0], torch.Generator().manual_seed(1)
    )


def test_mixture_is_a_distribution_with_gradients_to_alpha_and_beta():
    alpha = [torch.zeros(8, requires_grad=True) for _ in range(3)]
    beta = [torch.zeros(4, requires_grad=True)]
    choice = mixture_choice(alpha, beta, tau=5.0, generator=torch.Generator().manual_seed(0))
    assert all(torch.isclose(w.sum(), torch.tensor(1.0)) for w in choice.op_weights)
    (choice.op_weights[0][2] + choice.depth_weights[0][1]).backward()
    assert alpha[0].grad.abs().sum() > 0 and beta[0].grad.abs().sum() > 0


def test_temperature_sharpens_the_relaxed_sample():
    logits = torch.tensor([1.0, 0.0, -1.0])
    g = torch.Generator().manual_seed(0)
    hot = torch.stack([gumbel_softmax(logits, 100.0, g).max() for _ in range(200)]).mean()
    cold = torch.stack([gumbel_softmax(logits, 0.01, g).max() for _ in range(200)]).mean()
    assert hot < 0.4 and cold > 0.97


def test_path_choice_needs_one_kind_of_each():
    import pytest

    with pytest.raises(ValueError, match="exactly one of path and op_weights"):
        PathChoice(depths=[1])
    with pytest.raises(ValueError, match="exactly one of depth_weights and depths"):
        PathChoice(path=[0])
