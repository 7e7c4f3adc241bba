import numpy as np
import pandas as pd
import pytest
import torch

from tfnas_kedro.nas.search import load_supernet
from tfnas_kedro.params import SearchQualityParams
from tfnas_kedro.pipelines.study_search_quality.nodes import describe_target, target_statistics
from tfnas_kedro.reporting.sections import search_quality_section

PARAMS = SearchQualityParams(targets={"t": {"fraction": 0.5}}, bootstrap_rounds=300)


def _rows(diverged_run: str | None = None, tuned: bool = True, random_seeds: int = 1):
    """A target with the searched architecture at 3 seeds (top-1 0.85) and 8 random ones (0.45-0.73),
    each retrained ``random_seeds`` times; ``diverged_run``'s record is all wrong, as a run whose
    loss blew up. Through the supernet the scores rise with the retrained ones; after fine-tuning
    (``tuned``) they fall with them."""
    rng = np.random.default_rng(0)
    runs = [("searched", "searched", f"searched_seed{s}", s, 0.85, 0.6) for s in range(3)]
    for i in range(8):
        named = [(f"random_{i}", 0)] if random_seeds == 1 else [(f"random_{i}_seed{s}", s) for s in range(random_seeds)]
        runs += [("random", f"random_{i}", run, s, 0.45 + 0.04 * i, 0.1 + 0.05 * i) for run, s in named]
    rows, per_image = [], {}
    for kind, candidate, run, offset, top1, inherited in runs:
        hits = (rng.uniform(size=1000) < top1).astype(int)
        diverged = run == diverged_run
        if diverged:
            hits[:] = 0
        per_image[("t", run)] = hits
        rows.append({"target": "t", "target_ms": 5.0, "kind": kind, "candidate": candidate, "run": run,
                     "seed_offset": offset,
                     "top1": hits.mean(), "supernet_top1": inherited, "diverged": diverged,
                     "supernet_tuned_top1": 1 - inherited if tuned else None,
                     "divergence": "validation loss 19.6 > 3 ln 10" if diverged else None,
                     "draws": 3 if kind == "random" else 1})  # fmt: skip
    return pd.DataFrame(rows), per_image


def test_a_diverged_run_is_left_out_of_the_means_and_named():
    rows, per_image = _rows(diverged_run="searched_seed1")
    stats = target_statistics(rows, per_image, PARAMS)
    kept = rows[(rows["kind"] == "searched") & ~rows["diverged"]]
    assert stats["searched_runs"] == 2 and stats["searched_top1"] == pytest.approx(kept["top1"].mean())
    assert stats["left_out"] == "searched_seed1 (validation loss 19.6 > 3 ln 10)"
    with_it = target_statistics(_rows()[0], _rows()[1], PARAMS)
    assert with_it["searched_runs"] == 3 and with_it["left_out"] is None


def test_a_target_too_thin_for_statistics_keeps_every_column_empty():
    """Every random run diverged: no comparison and no ranking, but the same columns as a full
    target, so the stats table (and the report built from it) has one schema at every target."""
    rows, per_image = _rows()
    full = target_statistics(rows, per_image, PARAMS)
    thin_rows = rows.assign(diverged=rows["kind"] == "random", divergence="loss blew up")
    thin = target_statistics(thin_rows, per_image, PARAMS)
    assert set(thin) == set(full)
    assert thin["verdict"].startswith("not enough runs") and thin["tau_candidates"] == 1
    assert thin["difference_high"] is None and thin["kendall_tau"] is None
    assert "Kendall tau" not in describe_target(thin)


def test_the_report_shows_a_study_whose_every_target_was_too_thin(tmp_path):
    """Read back from parquet, the empty columns come as None: the section still shows the table
    with its columns and draws every run, and no arm's mean."""
    rows, per_image = _rows()
    thin_rows = rows.assign(diverged=rows["kind"] == "random", divergence="loss blew up")
    stats = pd.DataFrame([target_statistics(thin_rows.assign(target=t), {(t, r): v for (_, r), v in per_image.items()},
                                            PARAMS) for t in ("low", "high")])  # fmt: skip
    stats.to_parquet(tmp_path / "stats.parquet")
    stats = pd.read_parquet(tmp_path / "stats.parquet")
    table = thin_rows.assign(table_ms=5.0, name="x", supernet_learned=True)
    section = search_quality_section(table, stats)
    assert section.missing is None and "kendall_tau" in section.tables[0].columns
    traces = {trace.name: trace for trace in section.figures["search_quality"].data}
    assert {"searched (each run)", "random (each run)"} <= set(traces)
    assert np.isnan(np.asarray(traces["random (mean, 95% interval)"].y, dtype=float)).all()  # no mean to draw


def test_a_searched_arm_far_above_the_random_one_is_called_better_and_ranked():
    rows, per_image = _rows()
    stats = target_statistics(rows, per_image, PARAMS)
    assert stats["verdict"] == "searched better" and stats["difference_low"] > 0 and stats["share_beaten"] == 1.0
    # the supernet's scores rise with the retrained ones: a perfect ranking of the 9 architectures
    assert stats["tau_candidates"] == 9 and stats["kendall_tau"] > 0.9
    assert stats["random_rejected_share"] == pytest.approx(2 / 3)
    assert "searched better" in describe_target(stats) and "Kendall tau" in describe_target(stats)


def test_the_ranking_after_fine_tuning_is_its_own_tau_beside_the_inherited_one():
    stats = target_statistics(*_rows(), PARAMS)
    assert stats["kendall_tau"] > 0.9 and stats["tuned_kendall_tau"] < -0.9  # each from its own scores
    assert stats["tuned_tau_low"] <= stats["tuned_kendall_tau"] <= stats["tuned_tau_high"]
    assert "after fine-tuning each path: Kendall tau -" in describe_target(stats)
    untuned = target_statistics(*_rows(tuned=False), PARAMS)  # tuned_epochs: 0
    assert untuned["kendall_tau"] == stats["kendall_tau"] and untuned["tuned_kendall_tau"] is None
    assert set(untuned) == set(stats) and "fine-tuning" not in describe_target(untuned)


def test_random_architectures_retrained_with_several_seeds_count_once_each():
    """With ``random_seeds``, a random architecture is one model of its arm (its seeds averaged
    image by image) and one candidate of the ranking (at its seeds' mean); the seeds' spread is
    pooled over every candidate, and two seeds of each are compared directly."""
    rows, per_image = _rows(random_seeds=2)
    stats = target_statistics(rows, per_image, PARAMS)
    random_rows = rows[rows["kind"] == "random"]
    assert stats["random_runs"] == 16 and stats["tau_candidates"] == 9
    assert stats["random_top1"] == pytest.approx(random_rows["top1"].mean())
    # 8 architectures, not 16 runs: the same share beaten as 8 means give
    means = random_rows.groupby("candidate")["top1"].mean()
    assert stats["share_beaten"] == pytest.approx(np.mean(stats["searched_top1"] > means))
    within = [g.to_numpy() for _, g in rows.groupby("candidate")["top1"]]
    pooled = np.sqrt(sum(((g - g.mean()) ** 2).sum() for g in within) / sum(len(g) - 1 for g in within))
    assert stats["seed_sd"] == pytest.approx(pooled)
    # seeds 0 and 1 of every candidate: random draws of one top-1, so their order is noise
    assert -1 <= stats["seed_pair_tau"] <= 1
    assert "two seeds of every candidate agree to" in describe_target(stats)
    single = target_statistics(*_rows(), PARAMS)  # random once each: only the searched one has two seeds
    assert single["seed_pair_tau"] is None and "two seeds" not in describe_target(single)


def test_the_noise_ceiling_rises_when_each_candidate_is_a_mean_over_more_seeds():
    from tfnas_kedro.nas.stats import tau_noise_ceiling

    top1 = np.linspace(0.95, 0.97, 9)
    one, four = tau_noise_ceiling(top1, 0.005), tau_noise_ceiling(top1, np.full(9, 0.005 / 2))
    assert one < four < 1


def _images(tmp_path) -> list[dict]:
    """48 random images of 4 classes: 32 train the weights, 16 are held out for testing."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for i in range(48):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        rows.append({"path": str(path), "class_index": i % 4, "split": "weights" if i < 32 else "test"})
    return rows


def _supernet_result(space, tmp_path) -> dict:
    from tfnas_kedro.nas.supernet import Supernet

    supernet = Supernet(space, 4)
    torch.save({"supernet": supernet.state_dict()}, tmp_path / "last.pt")
    return {
        "identity": {"space": space.model_dump(mode="json"), "num_classes": 4},
        "checkpoint": str(tmp_path / "last.pt"),
    }


def _drawn(supernet, seed: int):
    """A path as a search would derive it from random alpha and beta."""
    from tfnas_kedro.nas.subnet import Subnet

    space, g = supernet.space, torch.Generator().manual_seed(seed)
    alpha = [torch.randn(len(p.ops), generator=g) for p in space.positions()]
    beta = [torch.randn(stage.max_depth, generator=g) for stage in space.stages]
    return Subnet.strongest(space, alpha, beta, supernet.widths())


def test_a_candidate_scores_the_same_through_the_supernet_wherever_it_stands_in_the_list(spaces, tmp_path):
    # every candidate's BatchNorm is recalibrated on the same images in the same crops
    from tfnas_kedro.artifacts import Candidate, Candidates
    from tfnas_kedro.pipelines.study_search_quality.nodes import score_through_supernet

    space = spaces["tfnas"]
    rows = _images(tmp_path)
    result = _supernet_result(space, tmp_path)
    supernet = load_supernet(result)

    subnets = [_drawn(supernet, s) for s in range(3)]
    candidates = [
        Candidate(key=f"random_{i}", name=f"c{i}", kind="random", index=i, table_ms=1.0, subnet=s.as_dict(),
                  architecture=s.to_arch(space, 4).model_dump(mode="json"))
        for i, s in enumerate(subnets)
    ]  # fmt: skip
    settings = {"device": "cpu", "input_size": 32, "batch_size": 8}
    study = {"targets": {"t": {"fraction": 0.5}}, "recalibration_images": 16, "tuned_epochs": 0}
    split, index = pd.DataFrame(rows), pd.DataFrame()
    forward = score_through_supernet(result, Candidates(candidates=candidates), split, index, settings, {}, study)
    reversed_ = Candidates(candidates=candidates[::-1])
    backward = score_through_supernet(result, reversed_, split, index, settings, {}, study)
    assert forward.scores.keys() == backward.scores.keys() == {"random_0", "random_1", "random_2"}
    assert all(forward.scores[k] == backward.scores[k] for k in forward.scores)


def test_fine_tuning_a_path_trains_its_weights_and_scores_every_held_out_image(spaces, tmp_path):
    from tfnas_kedro.pipelines.study_search_quality.nodes import fine_tuned_hits

    rows = _images(tmp_path)
    for row in rows[24:32]:  # a validation split, as the retraining evaluates on one
        row["split"] = "val"
    supernet = load_supernet(_supernet_result(spaces["tfnas"], tmp_path))
    network = supernet.active_subnet(_drawn(supernet, 0))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    train = {"epochs": 5, "warmup_epochs": 1, "batch_size": 8, "input_size": 32, "workers": 0, "device": "cpu"}
    hits = fine_tuned_hits(network, pd.DataFrame(rows), pd.DataFrame(), train, epochs=1)
    assert len(hits) == 16 and set(np.unique(hits)) <= {0, 1}
    after = network.state_dict()
    changed = [k for k, v in after.items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert any(k.startswith("classifier") for k in changed) and any(k.startswith("blocks") for k in changed)


def test_each_seed_of_a_random_architecture_is_a_retraining_of_that_architecture_at_its_seed():
    """``random_seeds: 2``: ``random_<i>_seed<k>`` trains candidate ``random_<i>`` with the training
    seed moved by k, as ``searched_seed<k>`` does the searched one."""
    from tfnas_kedro.pipelines._names import RunParameters
    from tfnas_kedro.pipelines.study_search_quality.pipeline import create_pipeline

    study = {"targets": {"t": {"fraction": 0.5}}, "random_architectures": 2, "searched_seeds": 1, "random_seeds": 2}
    pipe = create_pipeline(RunParameters({"studies": {"search_quality": study}}))
    train = {n.namespace: n for n in pipe.nodes if n.name.endswith(".train_network")}
    assert sorted(train) == [f"search_quality.t.{r}" for r in
                             ("random_0_seed0", "random_0_seed1", "random_1_seed0", "random_1_seed1", "searched_seed0",
                              "zoo")]  # fmt: skip
    inputs = set(train["search_quality.t.random_1_seed1"].inputs)
    assert {"search_quality.t.random_1_candidate", "search_quality.train_settings_seed1"} <= inputs
    assert "search_quality.train_settings_seed1" in pipe.all_outputs()
