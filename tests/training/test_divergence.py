import math

import pytest
import torch
from torch import nn

from tfnas_kedro.nas import build_network
from tfnas_kedro.training import TrainConfig, Trainer
from tfnas_kedro.training.divergence import divergence_reason

from .conftest import colour_data, tiny_arch


def _history(train_losses, val_losses):
    return [
        {"epoch": i, "train_loss": t, "val_loss": v}
        for i, (t, v) in enumerate(zip(train_losses, val_losses, strict=True))
    ]


def test_a_healthy_run_is_not_flagged():
    history = _history([2.31, 2.10, 1.80, 1.45, 1.20], [2.30, 2.05, 1.90, 1.60, 1.40])
    assert divergence_reason(history, num_classes=10) is None


def test_a_run_whose_training_loss_ends_above_its_first_epochs_is_flagged():
    history = _history([2.31, 2.40, 2.54, 2.45, 2.35], [2.30, 2.40, 2.50, 2.40, 2.30])
    reason = divergence_reason(history, num_classes=10)
    assert reason is not None and "training loss ended at 2.350, above its first epoch's 2.310" in reason


def test_a_validation_loss_spike_above_three_times_ln_classes_is_flagged_even_after_recovery():
    # the searched high-latency network of the search-quality study: val loss 19.6, then it recovered
    history = _history([2.31, 2.20, 2.00, 1.60, 1.10], [2.30, 19.6, 5.0, 1.8, 1.2])
    reason = divergence_reason(history, num_classes=10)
    assert reason is not None and "validation loss reached 19.600 after epoch 2" in reason
    assert "training loss" not in reason
    just_below = 3 * math.log(10) - 0.01
    assert divergence_reason(_history([2.3, 1.2], [just_below, 1.2]), num_classes=10) is None


def test_a_nan_loss_is_flagged():
    assert divergence_reason(_history([2.3, float("nan")], [2.3, 2.0]), num_classes=10) is not None
    assert divergence_reason(_history([2.3, 1.2], [2.3, float("nan")]), num_classes=10) is not None


def test_fewer_than_two_classes_is_an_error():
    with pytest.raises(ValueError, match="at least 2"):
        divergence_reason(_history([1.0], [1.0]), num_classes=1)


def test_precise_batchnorm_re_estimates_the_statistics_before_each_evaluation():
    """A network whose running statistics lag its weights is scored with statistics of its own:
    after training, every BatchNorm layer was reset and counted the recalibration batches only."""
    config = TrainConfig(epochs=1, batch_size=8, lr=0.01, warmup_epochs=0, workers=0, precise_bn_images=16)
    trainer = Trainer(build_network(tiny_arch()), config, torch.device("cpu"))
    norms = [m for m in trainer.model.modules() if isinstance(m, nn.BatchNorm2d)]
    trainer.fit(colour_data(48), colour_data(16, seed=1), progress=False)  # 6 training steps
    assert norms and all(int(m.num_batches_tracked) == 2 for m in norms)  # two batches of 8 images
