import pytest
import torch

from tests.conftest import free_port
from tfnas_kedro.training import DistributedConfig, TrainingJob, launch_training, load_trained_network

from .conftest import colour_data, tiny_arch


@pytest.mark.slow
@pytest.mark.serial  # two processes that take a core each, compared with a run at the machine's thread count
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(recipe):
    """DDP averages the gradients of two half-batches, SyncBatchNorm normalises over the whole batch
    and the sampler gives the two processes the even and odd items of the same permutation: the
    computation is the single process's, up to the order of floating-point sums. Dropout and
    drop-connect are off because each process draws its own masks."""
    config = recipe.model_copy(update={"drop_connect": 0.0, "epochs": 2, "batch_size": 16})
    job = TrainingJob(
        arch=tiny_arch(), config=config, train_data=colour_data(64), val_data=colour_data(24, seed=1), device="cpu",
        progress=False,
    )  # fmt: skip
    single = launch_training(job)
    double = launch_training(job, DistributedConfig(nproc_per_node=2, rdzv_endpoint=f"localhost:{free_port()}"))
    assert len(single["history"]) == len(double["history"]) == 2
    for name, weight in single["model"].items():
        if weight.is_floating_point():
            # float32 sums in another order: differences of a few ulps, grown over 8 SGD steps
            torch.testing.assert_close(double["model"][name], weight, rtol=1e-4, atol=1e-5, msg=name)
        else:
            assert torch.equal(double["model"][name], weight), name  # BatchNorm's step counters
    for one, two in zip(single["history"], double["history"], strict=True):
        assert two["val_top1"] == one["val_top1"] and two["train_top1"] == one["train_top1"]
        assert two["val_loss"] == pytest.approx(one["val_loss"], rel=1e-4)
    assert load_trained_network(double, tiny_arch()) is not None


def test_batch_not_divisible_by_the_processes_is_a_clear_error(recipe):
    from tfnas_kedro.nas.errors import ConfigError
    from tfnas_kedro.training.trainer import Ranks, training_loader

    config = recipe.model_copy(update={"batch_size": 15})
    with pytest.raises(ConfigError, match="batch_size 15 is not divisible by the 2 processes"):
        training_loader(colour_data(32), config, Ranks(rank=0, world_size=2), torch.device("cpu"), train=True)
