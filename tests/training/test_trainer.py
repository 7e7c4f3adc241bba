import math

import pytest
import torch

from tfnas_kedro.nas import build_network
from tfnas_kedro.training import Trainer, TrainingError, load_trained_network
from tfnas_kedro.training.trainer import learning_rate

from .conftest import CrashAfter, colour_data, tiny_arch


def _trainer(recipe, checkpoint_dir=None, arch=None, **changes):
    config = recipe.model_copy(update=changes)
    arch = arch or tiny_arch()
    torch.manual_seed(config.seed)
    model = build_network(arch, drop_connect_rate=config.drop_connect)
    identity = {"architecture": arch.model_dump(mode="json", by_alias=True)}
    return Trainer(model, config, torch.device("cpu"), checkpoint_dir, identity)


def test_learning_rate_warms_up_linearly_then_follows_a_cosine_to_zero():
    total, warmup, base = 100, 10, 0.2
    assert learning_rate(0, total, warmup, base) == pytest.approx(0.02)
    assert learning_rate(9, total, warmup, base) == pytest.approx(0.2)
    assert learning_rate(10, total, warmup, base) == pytest.approx(0.2)
    assert learning_rate(55, total, warmup, base) == pytest.approx(0.1)  # half-way through the cosine
    assert learning_rate(99, total, warmup, base) == pytest.approx(0.1 * (1 + math.cos(math.pi * 89 / 90)))
    assert learning_rate(99, total, warmup, base) < 0.001


def test_training_learns_and_records_every_epoch(recipe, tmp_path):
    trainer = _trainer(recipe, tmp_path, epochs=4)
    history = trainer.fit(colour_data(128), colour_data(64, seed=1), progress=False)
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]
    assert history[-1]["val_top1"] >= 0.9 and history[-1]["val_top5"] == 1.0  # 4 classes: top-5 is every class
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(row["images_per_s"] > 0 for row in history)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0003.pt", "epoch-0004.pt", "last.pt"]


def test_a_run_killed_mid_epoch_and_resumed_ends_with_the_same_weights(recipe, tmp_path):
    train, val = colour_data(96), colour_data(32, seed=1)
    reference = _trainer(recipe)
    reference.fit(train, val, progress=False)

    crashing = _trainer(recipe, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        crashing.fit(CrashAfter(train, limit=96 + 40), val, progress=False)  # dies in the second epoch
    assert crashing.epoch == 1

    resumed = _trainer(recipe, tmp_path)
    assert resumed.resume() and resumed.epoch == 1
    resumed.fit(train, val, progress=False)
    for name, weight in reference.model.state_dict().items():
        assert torch.equal(weight, resumed.model.state_dict()[name]), name
    assert [r["val_top1"] for r in resumed.history] == [r["val_top1"] for r in reference.history]


def test_ema_weights_are_kept_and_evaluated(recipe):
    trainer = _trainer(recipe, ema_decay=0.9, epochs=2)
    history = trainer.fit(colour_data(64), colour_data(32, seed=1), progress=False)
    assert "ema_val_top1" in history[-1]
    model, ema = trainer.model.state_dict(), trainer.ema.state_dict()
    assert not torch.equal(model["classifier.weight"], ema["classifier.weight"])
    state = trainer.state_dict()
    assert set(state) >= {"model", "ema", "optimizer", "scaler", "scheduler", "rng", "epoch", "history"}


def test_checkpoint_of_another_architecture_is_refused(recipe, tmp_path):
    _trainer(recipe, tmp_path, epochs=1).fit(colour_data(32), colour_data(16), progress=False)
    other = _trainer(recipe, tmp_path, arch=tiny_arch(num_classes=5))
    with pytest.raises(TrainingError, match="belongs to another training run: its architecture differ"):
        other.resume()


def test_checkpoint_with_other_settings_is_refused(recipe, tmp_path):
    _trainer(recipe, tmp_path, epochs=1).fit(colour_data(32), colour_data(16), progress=False)
    with pytest.raises(TrainingError, match=r"other settings \(lr\)"):
        _trainer(recipe, tmp_path, lr=0.5).resume()
    assert _trainer(recipe, tmp_path, epochs=5).resume()  # more epochs: continue the same run


def test_corrupt_checkpoint_is_a_clear_error(recipe, tmp_path):
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="cannot read checkpoint .*last.pt"):
        _trainer(recipe, tmp_path).resume()


def test_non_finite_loss_stops_with_a_clear_error(recipe, tmp_path):
    data = colour_data(32)
    data.tensors[0][5] = float("nan")
    with pytest.raises(TrainingError, match="not finite in epoch 1"):
        _trainer(recipe, tmp_path, grad_clip=None).fit(data, colour_data(16), progress=False)


def test_trained_network_loads_from_its_checkpoint_and_refuses_another_architecture(recipe):
    trainer = _trainer(recipe, epochs=1)
    trainer.fit(colour_data(32), colour_data(16), progress=False)
    state = trainer.state_dict()
    network = load_trained_network(state, tiny_arch())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(network(x), trainer.model.eval()(x))
    with pytest.raises(TrainingError, match="trained for architecture 'tiny' .* 4 classes\\), not 'tiny' .* 7 classes"):
        load_trained_network(state, tiny_arch(num_classes=7))
    with pytest.raises(TrainingError, match="not a training checkpoint"):
        load_trained_network({"weights": 1})


def test_batch_larger_than_the_data_is_a_clear_error(recipe):
    from tfnas_kedro.nas.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_size 64 exceeds the 32 training images"):
        _trainer(recipe, batch_size=64).fit(colour_data(32), colour_data(16), progress=False)
