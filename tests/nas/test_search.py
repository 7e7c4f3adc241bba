import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import synthetic_table
from tfnas_kedro.nas.search import SearchConfig, Searcher, SearchError

RES, CLASSES = 32, 4


def _loaders(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(48, 3, RES, RES, generator=g)
    y = torch.arange(48) % CLASSES
    x += y.view(-1, 1, 1, 1).float()  # learnable: the class shifts the mean
    train = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=8, shuffle=True, generator=torch.Generator())
    arch = DataLoader(TensorDataset(x[32:40], y[32:40]), batch_size=8, shuffle=True, generator=torch.Generator())
    val = DataLoader(TensorDataset(x[40:], y[40:]), batch_size=8)
    return train, arch, val


@pytest.fixture
def setup(spaces):
    space = spaces["tfnas"]
    table = synthetic_table(space, resolution=RES, num_classes=CLASSES, step=64)
    low, high = table.reachable_range(space)
    return space, table, low + 0.4 * (high - low)


def _searcher(setup, tmp_path, **changes):
    space, table, target = setup
    config = SearchConfig(target_ms=target, **{"epochs": 3, "warmup_epochs": 1, "seed": 7, **changes})
    return Searcher(space, table, CLASSES, config, torch.device("cpu"), tmp_path / "ckpt")


@pytest.mark.slow
def test_search_meets_the_target_and_records_history(setup, tmp_path):
    searcher = _searcher(setup, tmp_path)
    history = searcher.run(*_loaders())
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert not history[0]["scaled"] and history[1]["scaled"] and history[2]["scaling_feasible"]
    assert history[2]["derived_ms"] <= setup[2] and history[2]["derived_ms"] >= 0.99 * setup[2]
    assert history[1]["tau"] == 5.0 and history[2]["tau"] == pytest.approx(4.8)
    assert history[0]["arch_loss"] != history[0]["arch_loss"]  # NaN: no architecture step in the warm-up
    assert history[1]["expected_ms"] > 0
    assert (tmp_path / "ckpt" / "last.pt").exists()


@pytest.mark.slow
def test_a_search_killed_mid_epoch_resumes_to_the_same_architecture(setup, tmp_path):
    uninterrupted = _searcher(setup, tmp_path / "a")
    uninterrupted.run(*_loaders())

    class Killed(Exception):
        pass

    def kill(epoch, step):
        if epoch == 2 and step == 2:
            raise Killed

    crashed = _searcher(setup, tmp_path / "b")
    with pytest.raises(Killed):
        crashed.run(*_loaders(), on_step=kill)
    resumed = _searcher(setup, tmp_path / "b")
    assert resumed.resume() and resumed.epoch == 2
    resumed.run(*_loaders())
    assert resumed.derived() == uninterrupted.derived()
    assert all(torch.equal(a, b) for a, b in zip(resumed.alpha, uninterrupted.alpha, strict=True))
    assert [r["derived_ms"] for r in resumed.history] == [r["derived_ms"] for r in uninterrupted.history]


def test_target_outside_the_reachable_range_stops_before_training(setup, tmp_path):
    space, table, _ = setup
    low, high = table.reachable_range(space)
    with pytest.raises(
        SearchError, match=rf"outside what the space can reach on this table \({low:.3f}\.\.{high:.3f} ms"
    ):
        Searcher(space, table, CLASSES, SearchConfig(target_ms=low * 0.5), torch.device("cpu"))


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(setup, tmp_path):
    first = _searcher(setup, tmp_path, epochs=1)
    first.run(*_loaders())
    broken = _searcher(setup, tmp_path)
    assert broken.resume() and broken.epoch == 1
    with torch.no_grad():
        broken.supernet.stem[0].weight.fill_(float("nan"))  # a diverged model
    with pytest.raises(
        SearchError, match=r"weight loss is nan at epoch 1; the last good checkpoint \(end of epoch 0\)"
    ):
        broken.run(*_loaders())
    kept = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)
    assert kept["epoch"] == 1 and torch.isfinite(kept["supernet"]["stem.0.weight"]).all()


def test_mismatched_or_corrupt_checkpoints_are_refused(setup, spaces, tmp_path):
    searcher = _searcher(setup, tmp_path)
    searcher.save_checkpoint()
    wose = spaces["tfnas_wose"]
    wose_table = synthetic_table(wose, resolution=RES, num_classes=CLASSES, step=64)
    low, high = wose_table.reachable_range(wose)
    config = SearchConfig(target_ms=(low + high) / 2, epochs=3, warmup_epochs=1, seed=7)
    other = Searcher(wose, wose_table, CLASSES, config, torch.device("cpu"), tmp_path / "ckpt")
    with pytest.raises(SearchError, match="belongs to another search: its space"):
        other.resume()
    changed = _searcher(setup, tmp_path, latency_lambda=0.5)
    with pytest.raises(SearchError, match="latency_lambda=0.1"):
        changed.resume()
    (tmp_path / "ckpt" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SearchError, match="cannot read checkpoint"):
        _searcher(setup, tmp_path).resume()
