import pytest
import torch

from tfnas_kedro.nas import build_network, network_with_weights, zoo_arch
from tfnas_kedro.nas.checkpoints import check_format, check_same_run, epoch_seed


def _trained(num_classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network(zoo_arch("TF-NAS-D", num_classes=num_classes)).eval()


def test_weights_with_a_wrapper_prefix_load_into_the_architecture():
    trained = _trained()
    # DistributedDataParallel around torch.compile: both prefixes, stacked
    wrapped = {f"module._orig_mod.{k}": v for k, v in trained.state_dict().items()}
    torch.manual_seed(1)  # the fresh network starts from other weights than the trained one
    network = network_with_weights(zoo_arch("TF-NAS-D", num_classes=3), wrapped).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(network(x), trained(x))


def test_weights_of_another_shape_are_refused_naming_the_layer():
    weights = _trained(num_classes=5).state_dict()
    with pytest.raises(RuntimeError, match=r"do not fit TF-NAS-D: 2 of \d+ tensors differ and 0 are unexpected, "
                       r"first classifier.weight \(expected \(3, 1280\), found \(5, 1280\)\)"):  # fmt: skip
        network_with_weights(zoo_arch("TF-NAS-D", num_classes=3), weights, error=RuntimeError)


def test_missing_and_unexpected_weights_are_each_named_with_the_remedy():
    weights = _trained().state_dict()
    weights["extra.weight"] = weights.pop("head.0.weight")
    with pytest.raises(ValueError, match="saved weights do not fit TF-NAS-D") as refused:
        network_with_weights(zoo_arch("TF-NAS-D", num_classes=3), weights, "saved weights")
    message = str(refused.value)
    assert "1 are unexpected" in message and "Unexpected: extra.weight" in message
    assert "head.0.weight (expected (1280, 320, 1, 1), found missing)" in message
    assert "load them into the one they were trained for" in message


def test_every_epoch_and_process_starts_from_its_own_seed_and_the_same_one_again():
    seeds = {epoch_seed(7, epoch, rank) for epoch in range(4) for rank in range(3)}
    assert len(seeds) == 12 and all(0 <= s < 2**31 for s in seeds)
    assert epoch_seed(7, 2, 1) == epoch_seed(7, 2, 1) and epoch_seed(7, 2) == epoch_seed(7, 2, rank=0)
    # the derivation is pinned: a checkpoint written before an upgrade replays its next epoch unchanged
    assert (epoch_seed(0, 1), epoch_seed(0, 0, 1), epoch_seed(1, 0)) == (7919, 104_729, 1_000_003)


def test_a_checkpoint_of_another_run_or_version_is_refused_naming_what_differs():
    mine = {"architecture": "a", "data": 10}
    check_same_run(mine, dict(mine), "run", "last.pt", RuntimeError)
    with pytest.raises(RuntimeError, match="another run: its data, trainable differ .*resume: false"):
        check_same_run(mine, {"architecture": "a", "data": 11, "trainable": "head"}, "run", "last.pt", RuntimeError)
    with pytest.raises(RuntimeError, match=r"last.pt is not a training checkpoint of this version \(format 0\)"):
        check_format({"format": 0}, 1, "training", "last.pt", RuntimeError)
    with pytest.raises(RuntimeError, match=r"\(format None\)"):
        check_format([1], 1, "training", "last.pt", RuntimeError)
