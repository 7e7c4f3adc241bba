import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import synthetic_table
from tfnas_kedro.nas.penalty import LatencyPenalty
from tfnas_kedro.nas.sampling import PathChoice, path_choice
from tfnas_kedro.nas.search import (
    SearchConfig,
    Searcher,
    SearchError,
    SearchIdentity,
    backward_paths,
    describe_learning,
    learning_status,
)

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
def setup(small_space):
    space = small_space
    table = synthetic_table(space, resolution=RES, num_classes=CLASSES, step=4, slopes=(0.01, 0.05))
    low, high = table.reachable_range(space)
    return space, table, low + 0.4 * (high - low)


def _searcher(setup, tmp_path, latency_lambda=0.1, **changes):
    space, table, target = setup
    config = SearchConfig(**{"epochs": 3, "warmup_epochs": 1, "seed": 7, **changes})
    penalty = LatencyPenalty(target, latency_lambda)
    return Searcher(space, table, CLASSES, config, torch.device("cpu"), penalty, tmp_path / "ckpt")


# the demo's settings for short searches (conf/base/parameters_search.yml)
SHORT = {"arch_lr": 0.2, "tau": 1.0, "latency_lambda": 2.0, "latency_feedback": True}


def test_search_meets_the_target_and_records_history(setup, tmp_path):
    searcher = _searcher(setup, tmp_path, **SHORT)
    history = searcher.run(*_loaders())
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert not history[0]["scaled"] and history[1]["scaled"] and history[2]["scaling_feasible"]
    assert history[2]["derived_ms"] <= setup[2] and history[2]["derived_ms"] >= 0.99 * setup[2]
    assert history[1]["tau"] == 1.0 and history[2]["tau"] == pytest.approx(0.96)
    assert history[0]["arch_loss"] != history[0]["arch_loss"]  # NaN: no architecture step in the warm-up
    assert history[1]["expected_ms"] > 0
    assert (tmp_path / "ckpt" / "last.pt").exists()


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
    with pytest.raises(SearchError, match=rf"outside the reachable range {low:.3f}\.\.{high:.3f} ms"):
        Searcher(space, table, CLASSES, SearchConfig(), torch.device("cpu"), LatencyPenalty(low * 0.5))


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
    searcher.epoch = 2  # past the warm-up: the latency term has acted (a warm-up state starts any search)
    searcher.save_checkpoint()
    wose = spaces["tfnas_wose"]
    wose_table = synthetic_table(wose, resolution=RES, num_classes=CLASSES, step=64)
    low, high = wose_table.reachable_range(wose)
    config = SearchConfig(epochs=3, warmup_epochs=1, seed=7)
    penalty = LatencyPenalty((low + high) / 2)
    other = Searcher(wose, wose_table, CLASSES, config, torch.device("cpu"), penalty, tmp_path / "ckpt")
    with pytest.raises(SearchError, match="belongs to another search: its space"):
        other.resume()
    changed = _searcher(setup, tmp_path, latency_lambda=0.5)
    with pytest.raises(SearchError, match="latency_lambda=0.1"):
        changed.resume()
    (tmp_path / "ckpt" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SearchError, match="cannot read checkpoint"):
        _searcher(setup, tmp_path).resume()


def _grad_norm(params) -> float:
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params])))


def test_an_architecture_step_computes_no_weight_gradient_and_clips_alpha_and_beta(setup, tmp_path):
    x, y = next(iter(_loaders()[1]))
    clipped = _searcher(setup, tmp_path, grad_clip=1e-4)
    clipped.arch_step(x, y, tau=5.0, generator=torch.Generator().manual_seed(0))
    assert all(p.grad is None for p in clipped.supernet.parameters())
    assert all(p.requires_grad for p in clipped.supernet.parameters())  # frozen for the step only
    norm = _grad_norm(clipped.alpha + clipped.beta)
    assert 0 < norm <= 1e-4 * (1 + 1e-4)
    free = _searcher(setup, tmp_path, grad_clip=1e3)
    free.arch_step(x, y, tau=5.0, generator=torch.Generator().manual_seed(0))
    assert _grad_norm(free.alpha + free.beta) > 100 * norm  # the same step without the tight clip


def test_in_place_distillation_teaches_the_other_path_the_first_paths_predictions(setup, tmp_path):
    x, y = next(iter(_loaders()[0]))
    searcher = _searcher(setup, tmp_path)
    supernet, alpha, beta = searcher.supernet.eval(), searcher.alpha, searcher.beta  # eval: BN as a fixed map
    first, second = [0] * len(alpha), [1] * len(alpha)

    def gradients(distill):
        supernet.zero_grad(set_to_none=True)
        losses = backward_paths(supernet, x, y, [first, second], alpha, beta, distill=distill)
        return losses, torch.cat([p.grad.flatten() for p in supernet.parameters() if p.grad is not None])

    labels_losses, from_labels = gradients(False)
    distilled_losses, distilled = gradients(True)
    # by hand: the first path on the labels, the second on the first's softmax (no gradient to it)
    supernet.zero_grad(set_to_none=True)
    teacher = supernet(x, path_choice(first, alpha, beta))
    F.cross_entropy(teacher, y).backward()
    F.cross_entropy(supernet(x, path_choice(second, alpha, beta)), torch.softmax(teacher.detach(), -1)).backward()
    by_hand = torch.cat([p.grad.flatten() for p in supernet.parameters() if p.grad is not None])
    assert torch.allclose(distilled, by_hand, atol=1e-6) and not torch.allclose(distilled, from_labels, atol=1e-4)
    # the history still reports each path's cross-entropy on the labels
    assert torch.allclose(torch.stack(labels_losses), torch.stack(distilled_losses))


def test_scaling_repicks_channels_only_for_ops_whose_width_changed(setup, tmp_path):
    searcher = _searcher(setup, tmp_path)
    before = [[op.active.clone() for op in layer.ops] for layer in searcher.supernet.layers]
    old_widths = searcher.supernet.widths()
    with torch.no_grad():  # training moved the importance of every op
        for p in searcher.supernet.parameters():
            p.add_(torch.rand_like(p))
    result, repicked = searcher.scale_widths()
    new_widths = searcher.supernet.widths()
    changed = [(j, i) for j, layer in enumerate(searcher.supernet.layers) for i, name in enumerate(layer.position.ops)
               if new_widths[j][name] != old_widths[j][name]]  # fmt: skip
    assert result.feasible and repicked == len(changed) > 0
    for j, layer in enumerate(searcher.supernet.layers):
        for i, op in enumerate(layer.ops):
            assert torch.equal(op.active, before[j][i]) == ((j, i) not in changed)


def test_validation_measures_the_derived_ops_with_sink_connected_stages(setup, tmp_path):
    searcher = _searcher(setup, tmp_path)
    with torch.no_grad():
        for a in searcher.alpha:
            a[1] = 3.0
        for b in searcher.beta:
            b.copy_(torch.linspace(0, 1, len(b)))
    val = _loaders()[2]
    accuracy = searcher.evaluate(val)
    depths = [len(b) for b in searcher.beta]
    sink = PathChoice(path=[1] * len(searcher.alpha), depth_weights=[torch.softmax(b, 0) for b in searcher.beta])
    single = PathChoice(path=[1] * len(searcher.alpha), depths=depths)
    with torch.no_grad():
        expected = {
            key: sum(int((searcher.supernet(x, choice).argmax(1) == y).sum()) for x, y in val) / len(val.dataset)
            for key, choice in (("val_top1", sink), ("val_top1_single_depth", single))
        }
    assert {k: accuracy[k] for k in expected} == expected
    # uniformly drawn paths, the same ones every epoch, score the space beside the derived path
    assert 0.0 <= accuracy["val_top1_random_paths"] <= 1.0
    with torch.no_grad():
        for a in searcher.alpha:
            a[1] = -3.0  # alpha does not steer the uniform draws
    assert searcher.evaluate(val)["val_top1_random_paths"] == accuracy["val_top1_random_paths"]


def test_a_supernet_whose_random_paths_score_at_chance_has_not_learned_the_space():
    trained_path = {"weight_loss": 1.0, "val_top1": 0.79}
    assert learning_status([trained_path], 10).learned  # a history from before random paths were scored
    status = learning_status([trained_path | {"val_top1_random_paths": 0.13}], 10)
    assert not status.learned and status.random_paths_vs_chance == pytest.approx(1.3)
    assert "random paths 0.13 (1.3 x chance)" in describe_learning(status)
    assert learning_status([trained_path | {"val_top1_random_paths": 0.45}], 10).learned


def test_one_warm_up_starts_the_search_of_any_target(setup, tmp_path):
    space, table, target = setup
    low, high = table.reachable_range(space)
    config = SearchConfig(epochs=3, warmup_epochs=1, seed=7)
    warm = Searcher(space, table, CLASSES, config, torch.device("cpu"))  # no penalty: no target
    with pytest.raises(SearchError, match="without a target can only run its 1 warm-up epochs"):
        warm.run(*_loaders())
    warm.run(*_loaders(), until=1)
    assert warm.epoch == 1
    for other in (target, low + 0.8 * (high - low)):
        shared = _searcher((space, table, other), tmp_path / f"shared{other}")
        shared.load_state_dict(warm.state_dict())
        shared.run(*_loaders())
        alone = _searcher((space, table, other), tmp_path / f"alone{other}")
        alone.run(*_loaders())
        assert shared.derived() == alone.derived() and shared.history[0]["target_ms"] == other
    after_warm_up = _searcher(setup, tmp_path / "done")
    after_warm_up.run(*_loaders(), until=2)
    elsewhere = _searcher((space, table, low + 0.8 * (high - low)), tmp_path / "elsewhere")
    with pytest.raises(SearchError, match="was made with target_ms="):
        elsewhere.load_state_dict(after_warm_up.state_dict())


def test_a_warm_up_starts_searches_that_differ_only_in_what_acts_after_it(setup, tmp_path):
    space, table, _ = setup
    warm = Searcher(space, table, CLASSES, SearchConfig(epochs=3, warmup_epochs=1), torch.device("cpu"))
    state = warm.state_dict()  # epoch 0: within the warm-up
    for later in ({"arch_lr": 0.5}, {"distill_other_paths": True}, {"tau": 2.0, "bisampling": False}):
        _searcher(setup, tmp_path, warmup_epochs=1, seed=0, **later).load_state_dict(state)
    with pytest.raises(SearchError, match="was made with lr=0.025, this search has 0.5"):
        _searcher(setup, tmp_path, warmup_epochs=1, seed=0, lr=0.5).load_state_dict(state)
    # one identity for the folder name and the resume check: the warm-up's leaves those settings out
    config = SearchConfig(arch_lr=0.5, distill_other_paths=True)
    assert "arch_lr" in config.run_settings() and "arch_lr" not in config.run_settings(warmup=True)
    assert "epochs" not in config.run_settings() and "lr" in config.run_settings(warmup=True)
    # a setting added later, at its default, leaves the identity of older searches as it was
    assert "distill_other_paths" not in SearchConfig().run_settings()
    saved = {**state, "config": {k: v for k, v in state["config"].items() if k != "distill_other_paths"}}
    Searcher(space, table, CLASSES, SearchConfig(epochs=3, warmup_epochs=1), torch.device("cpu")).load_state_dict(saved)


def test_a_checkpoint_folder_and_the_resume_check_read_one_identity(setup):
    """The folder's digest changes exactly when the resume check finds a difference."""
    space, table, _ = setup
    base = SearchIdentity(SearchConfig(epochs=3, warmup_epochs=1), LatencyPenalty(20.0, 2.0))
    saved = Searcher(space, table, CLASSES, base.config, torch.device("cpu"), base.penalty).state_dict()["config"]
    same = [
        SearchIdentity(SearchConfig(epochs=9, warmup_epochs=1), LatencyPenalty(20.0, 2.0)),  # more epochs resume
    ]
    other = [
        SearchIdentity(base.config, LatencyPenalty(21.0, 2.0)),  # another target
        SearchIdentity(base.config, LatencyPenalty(20.0, 0.5)),  # another weight
        SearchIdentity(SearchConfig(epochs=3, warmup_epochs=1, arch_lr=0.5), base.penalty),
    ]
    for identity in same:
        assert identity.digest() == base.digest() and not identity.differences(saved, within_warmup=False)
    for identity in other:
        assert identity.digest() != base.digest() and identity.differences(saved, within_warmup=False)
    # within the warm-up the target and what acts after it do not count
    assert not other[0].differences(saved, within_warmup=True) and not other[2].differences(saved, within_warmup=True)
    assert SearchIdentity(base.config).digest() == SearchIdentity(base.config.model_copy(update={"tau": 1.0})).digest()


def test_the_latency_term_is_steered_until_the_target_sits_inside_what_widths_reach(setup, tmp_path):
    searcher = _searcher(setup, tmp_path, latency_feedback=True)
    target = searcher.target_ms

    def scaled(low: float, high: float) -> tuple[float, float]:  # the derived ops' band, in units of the target
        return low * target, high * target

    searcher.steer(scaled(0.8, 1.2))
    assert searcher.loss_target_ms == target  # in the band's middle 60%: nothing to steer
    searcher.steer(scaled(0.5, 1.02))  # fits, 2% under its widest: a cheaper op and it would not
    anchor = 1.02 - 0.2 * (1.02 - 0.5)
    assert searcher.loss_target_ms == pytest.approx(target / anchor)
    searcher.steer(scaled(1.1, 1.5))  # even the narrowest widths are too slow
    assert searcher.loss_target_ms == pytest.approx(target / anchor / (1.1 + 0.2 * 0.4))
    for _ in range(50):  # never beyond what the space can reach
        searcher.steer(scaled(0.1, 0.2))
    assert searcher.loss_target_ms == pytest.approx(searcher.reachable_ms[1])
    searcher.steer(scaled(1.1, 1.5), gain=0.25)  # a quarter of the correction, in log terms
    assert searcher.loss_target_ms == pytest.approx(searcher.reachable_ms[1] / (1.1 + 0.2 * 0.4) ** 0.25)
    steered = searcher.loss_target_ms
    restored = _searcher(setup, tmp_path / "other", latency_feedback=True)
    restored.load_state_dict({**searcher.state_dict(), "epoch": 2})  # past the warm-up: the steered target is kept
    assert restored.loss_target_ms == steered


def test_autocast_runs_both_steps_in_bfloat16_while_alpha_beta_and_the_weights_stay_fp32(setup, tmp_path):
    """What CUDA runs (``search.amp: auto``), checked on the CPU, where autocast to bf16 also exists."""
    space, table, target = setup
    config = SearchConfig(epochs=3, warmup_epochs=1, seed=7)
    x, y = next(iter(_loaders()[0]))

    def steps(amp):
        torch.manual_seed(0)
        searcher = Searcher(space, table, CLASSES, config, torch.device("cpu"), LatencyPenalty(target), amp=amp)
        weight = searcher.weight_step(x, y, [[0] * len(searcher.alpha)], lr=0.01)
        arch = searcher.arch_step(x, y, tau=1.0, generator=torch.Generator().manual_seed(0))
        return weight[0], arch["arch_ce"], searcher

    fp32_loss, fp32_ce, _ = steps(None)
    bf16_loss, bf16_ce, searcher = steps(torch.bfloat16)
    assert bf16_loss != fp32_loss and bf16_loss == pytest.approx(fp32_loss, rel=0.05)  # bf16 ran, and close
    assert bf16_ce != fp32_ce and bf16_ce == pytest.approx(fp32_ce, rel=0.05)
    assert all(p.dtype == torch.float32 for p in [*searcher.alpha, *searcher.beta, *searcher.supernet.parameters()])
    assert all(torch.isfinite(a).all() and a.grad is not None for a in searcher.alpha)


def test_a_search_epoch_reports_progress_within_the_epoch(setup, tmp_path, caplog):
    """Off a terminal, every ``log_every`` weight steps: a paper-scale epoch is never silent."""
    searcher = _searcher(setup, tmp_path, epochs=2, log_every=2, **SHORT)
    with caplog.at_level("INFO", logger="tfnas_kedro.nas.progress"):
        searcher.run(*_loaders())
    lines = [r.getMessage() for r in caplog.records if r.name == "tfnas_kedro.nas.progress"]
    assert [line.split(":")[0] for line in lines] == [
        f"search epoch {e}/2 step {s}/4" for e in (1, 2) for s in (2, 4)
    ]  # 4 weight steps of 8 images per epoch
    assert "weight loss" in lines[0] and "arch loss" not in lines[0]  # the warm-up has no architecture step
    assert "arch loss" in lines[-1] and lines[-1].endswith("img/s")
