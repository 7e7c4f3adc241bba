"""Nodes of the ``study_search_quality`` pipeline: is the searched architecture better than random
architectures of the same latency, and can the supernet tell? Each target's searched architecture
(retrained with ``searched_seeds`` seeds), ``random_architectures`` random ones scaled to its table
latency, and the published model closest to it are retrained with one recipe and budget and scored
once on the held-out test split; the searched and random ones are also scored through the trained
supernet (inherited weights, BatchNorm recalibrated). The summary sets the arms side by side with
their intervals (docs/method.md section 13)."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch.utils.data import DataLoader

from tfnas_kedro.artifacts import (
    Candidate,
    Candidates,
    SearchSummary,
    SearchTarget,
    SupernetScore,
    SupernetScores,
    candidate_runs,
)
from tfnas_kedro.data.loaders import (
    IndexedImages,
    eval_transform,
    held_out_rows,
    make_loader,
    train_transform,
    training_rows,
)
from tfnas_kedro.nas import ArchDescription, count_macs, count_params, load_search_spaces
from tfnas_kedro.nas.baselines import closest_zoo_model, random_subnet
from tfnas_kedro.nas.latency import LatencyTable
from tfnas_kedro.nas.scoring import correct_per_image, recalibrate_batchnorm
from tfnas_kedro.nas.search import load_supernet, subnet_weights
from tfnas_kedro.nas.seeding import seed_everything
from tfnas_kedro.nas.stats import (
    compare_arms,
    kendall_tau,
    kendall_tau_interval,
    min_detectable_difference,
    pooled_seed_sd,
    tau_noise_ceiling,
)
from tfnas_kedro.nas.subnet import Subnet
from tfnas_kedro.params import SearchQualityParams, TrainParams, parse_params, search_quality_params
from tfnas_kedro.reporting import search_quality, supernet_ranking
from tfnas_kedro.runtime import resolve_device
from tfnas_kedro.training import TrainConfig, Trainer

logger = logging.getLogger(__name__)


def train_settings_with_seed(offset: int):
    """The node function giving the study's training settings with the training seed moved by
    ``offset`` (a named function: Kedro reads its type hints)."""

    def seeded_train_settings(train_settings: dict) -> dict:
        return {**copy.deepcopy(train_settings), "seed": train_settings.get("seed", 0) + offset}

    return seeded_train_settings


def candidate_start_weights(key: str):
    """The node function giving the weights a retraining of candidate ``key`` starts from: with
    ``train.init: inherit``, its path in the target's supernet, so that the searched and the random
    arms start alike; from scratch otherwise, and always for the published model (no path of the
    space: the study's table says so)."""

    def start_weights(search_result: dict, candidates: Candidates, train_settings: dict) -> dict:
        if train_settings.get("init", "scratch") == "scratch" or key == "zoo":
            return {}
        return subnet_weights(search_result, Subnet.from_dict(candidates.by_key(key).subnet))[1]

    return start_weights


def pick_candidates(
    searched: ArchDescription,
    summary: SearchSummary,
    target: SearchTarget,
    table: LatencyTable,
    settings: dict,
    search_spaces: dict,
    study: dict,
) -> tuple:
    """The candidates of one target, all priced on ``table``: the searched architecture, random
    subnets drawn uniformly and fitted by elasticity-scaling to the searched one's table latency
    (within 1% below it; draws whose depths and ops cannot get there are rejected and drawn again),
    and the published model closest to it. Returns the listing (key, name, kind, index, table ms,
    description, subnet, draws) and each description: searched, the random ones, the zoo model."""
    p = search_quality_params(study)
    space = load_search_spaces(search_spaces)[settings.get("search_space", "tfnas")]
    space = space.at_resolution(table.meta.resolution)
    searched_ms = table.predict(searched)
    rng = np.random.default_rng([p.seed, round(target.target_ms * 1000)])
    randoms = []
    for i in range(p.random_architectures):
        subnet, draws = random_subnet(table, space, searched_ms, rng)
        name = f"random-{target.target_ms:.2f}ms-{i}"
        randoms.append((subnet.to_arch(space, searched.num_classes, name=name), subnet, draws))
    zoo, zoo_ms = closest_zoo_model(table, searched_ms, searched.num_classes)
    rows = [
        ("searched", None, searched, Subnet.from_dict(summary.subnet), 1),
        *[("random", i, arch, subnet, draws) for i, (arch, subnet, draws) in enumerate(randoms)],
        ("zoo", None, zoo, None, None),
    ]
    listing = Candidates(candidates=[
        Candidate(key=candidate_key(kind, i), name=arch.name, kind=kind, index=i, table_ms=table.predict(arch),
                  architecture=arch.model_dump(mode="json"), subnet=None if subnet is None else subnet.as_dict(),
                  draws=draws)
        for kind, i, arch, subnet, draws in rows
    ])  # fmt: skip
    draws = sum(r[4] for r in rows if r[0] == "random")
    logger.info(
        "target %.3f ms: searched %.3f ms; %d random architectures at %s ms (%d draws, %.0f%% rejected); %s %.3f ms",
        target.target_ms, searched_ms, len(randoms), ", ".join(f"{c.table_ms:.3f}" for c in listing.of_kind("random")),
        draws, 100 * (1 - len(randoms) / draws), zoo.name, zoo_ms,
    )  # fmt: skip
    return listing, *(arch for _, _, arch, _, _ in rows)


def score_through_supernet(
    result: dict,
    candidates: Candidates,
    split: pd.DataFrame,
    index: pd.DataFrame,
    settings: dict,
    train_settings: dict,
    study: dict,
) -> SupernetScores:
    """Top-1 on the test split of every candidate that is a path of the trained supernet (the
    searched and random ones), with the supernet's weights (:meth:`Supernet.active_subnet`) and
    BatchNorm recalibrated on ``recalibration_images`` training images of that path alone; and,
    with ``tuned_epochs``, again after fine-tuning that path for so many epochs of the study's
    recipe (:func:`fine_tuned_hits`)."""
    p = search_quality_params(study)
    supernet = load_supernet(result)
    space = supernet.space
    device = resolve_device(settings.get("device", "auto"))
    common = {"input_size": settings.get("input_size", space.resolution), "batch_size": settings.get("batch_size", 32)}
    train = make_loader(split, "weights", shuffle=True, augment=True, seed=p.seed, **common)
    test = make_loader(split, "test", shuffle=False, augment=False, **common)
    scores = {}
    for candidate in candidates.candidates:
        if candidate.subnet is None:  # the published model is no path of this supernet
            continue
        subnet = Subnet.from_dict(candidate.subnet)
        network = supernet.active_subnet(subnet).to(device)
        # every candidate's BatchNorm sees the same images in the same crops: the scores differ by
        # the candidates alone (near chance, another draw of crops moves Kendall tau by itself)
        seed_everything(p.seed)
        train.generator.manual_seed(p.seed)
        recalibrate_batchnorm(network, train, p.recalibration_images, device)
        hits = correct_per_image(network, test, device)
        score = SupernetScore(top1=float(hits.mean()), correct_per_image=hits.astype(int).tolist())
        if p.tuned_epochs:
            tuned = fine_tuned_hits(supernet.active_subnet(subnet), split, index, train_settings, p.tuned_epochs)
            score = score.model_copy(update={"tuned_top1": float(tuned.mean()), "tuned_epochs": p.tuned_epochs})
        scores[candidate.key] = score
        logger.info(
            "%s through the supernet (BatchNorm recalibrated): top-1 %.3f%s", candidate.name, hits.mean(),
            "" if score.tuned_top1 is None else f"; fine-tuned {p.tuned_epochs} epochs: {score.tuned_top1:.3f}",
        )  # fmt: skip
    return SupernetScores(scores=scores)


def fine_tuned_hits(
    network: torch.nn.Module, split: pd.DataFrame, index: pd.DataFrame, train_settings: dict, epochs: int
) -> np.ndarray:
    """The per-image test record (the retraining's test rows, in their order) of ``network`` after
    ``epochs`` epochs of the retraining's recipe, shortened: the same learning rate, its warm-up
    the same share of the epochs, cosine to 0 at the end. No checkpoints are written.

    Why a second score: the inherited score tells how much training a path has had in the supernet
    (paths near alpha's choice most) as much as what it reaches once fine-tuned (docs/studies.md)."""
    p = parse_params(TrainParams, train_settings, "train")
    recipe = p.recipe()
    warmup = recipe.warmup_epochs * epochs / recipe.epochs
    short = TrainConfig(**(recipe.model_dump() | {"epochs": epochs, "warmup_epochs": warmup}))
    train_rows, val_rows = training_rows(split, index, p.data)
    device = resolve_device(p.device)
    trainer = Trainer(network, short, device)
    trainer.fit(
        IndexedImages(train_rows["path"].tolist(), train_rows["class_index"].tolist(),
                      train_transform(p.input_size, p.color_jitter)),
        IndexedImages(val_rows["path"].tolist(), val_rows["class_index"].tolist(), eval_transform(p.input_size)),
        progress=False,
    )  # fmt: skip
    rows = held_out_rows(split, index, p.data)
    images = IndexedImages(rows["path"].tolist(), rows["class_index"].tolist(), eval_transform(p.input_size))
    return correct_per_image(trainer.model, DataLoader(images, batch_size=max(p.batch_size, 64)), device)


def summarise_search_quality(study: dict, **inputs) -> tuple[pd.DataFrame, pd.DataFrame, go.Figure, go.Figure]:
    """One row per retrained model (``<target>_candidates``, ``<target>_summary``,
    ``<target>_supernet_scores``, ``<target>_<run>_metrics`` and ``<target>_<run>_test`` in
    ``inputs``), one row of statistics per target (:func:`target_statistics`), the figure of test
    top-1 against table latency and the figure of the supernet's ranking."""
    p = search_quality_params(study)
    rows, per_image = [], {}
    for target in p.targets:
        summary, scores = inputs[f"{target}_summary"], inputs[f"{target}_supernet_scores"]
        for candidate in inputs[f"{target}_candidates"].candidates:
            arch = ArchDescription.model_validate(candidate.architecture)
            for run, offset in candidate.runs(p.searched_seeds, p.random_seeds):
                metrics, test = inputs[f"{target}_{run}_metrics"], inputs[f"{target}_{run}_test"]
                per_image[(target, run)] = np.asarray(test.correct_per_image)
                rows.append({
                    "target": target, "target_ms": summary.target_ms, "kind": candidate.kind,
                    "candidate": candidate.key, "run": run, "seed_offset": offset, "name": candidate.name,
                    "table_ms": candidate.table_ms, "macs_m": count_macs(arch) / 1e6,
                    "params_m": count_params(arch) / 1e6, "top1": test.top1, "top1_low": test.top1_low,
                    "top1_high": test.top1_high, "val_top1": metrics.top1,
                    "supernet_top1": scores.top1(candidate.key),
                    "supernet_tuned_top1": scores.tuned_top1(candidate.key),
                    "diverged": metrics.diverged, "divergence": metrics.divergence,
                    "supernet_learned": summary.supernet.learned, "draws": candidate.draws,
                    "search_init": summary.init, "train_init": metrics.init,
                })  # fmt: skip
    table = pd.DataFrame(rows)
    stats = pd.DataFrame([target_statistics(table[table["target"] == t], per_image, p) for t in p.targets])
    for row in stats.to_dict("records"):
        logger.info("%s", describe_target(row))
    return table, stats, search_quality(table, stats), supernet_ranking(table)


def target_statistics(rows: pd.DataFrame, per_image: dict, p: SearchQualityParams) -> dict:
    """One target's statistics over its retrained models, leaving out diverged runs: the searched
    arm (its seeds) against the random arm (:func:`~tfnas_kedro.nas.stats.compare_arms`), and
    Kendall tau between supernet-inherited and retrained top-1 over the searched and random
    architectures (the searched one at its seeds' mean)."""
    kept, diverged = rows[~rows["diverged"]], rows[rows["diverged"]]
    random_rows = rows[rows["kind"] == "random"]
    row = {
        "target": rows["target"].iloc[0],
        "target_ms": rows["target_ms"].iloc[0],
        "searched_runs": int((kept["kind"] == "searched").sum()),
        "random_runs": int((kept["kind"] == "random").sum()),
        "left_out": ", ".join(f"{r.run} ({r.divergence})" for r in diverged.itertuples()) or None,
        "random_rejected_share": 1 - len(random_rows) / random_rows["draws"].sum(),
    }
    return row | _arm_comparison(kept, per_image, p) | _supernet_ranking(kept, p)


def describe_target(row: dict) -> str:
    """One target's statistics in a sentence."""

    def known(key: str) -> bool:
        return row.get(key) is not None and not pd.isna(row[key])

    text = f"{row['target']}: {row['verdict']}"
    if known("difference"):
        text += (
            f"; searched {row['searched_top1']:.3f} [{row['searched_low']:.3f}, {row['searched_high']:.3f}], random "
            f"{row['random_top1']:.3f} [{row['random_low']:.3f}, {row['random_high']:.3f}], difference "
            f"{row['difference']:+.3f} [{row['difference_low']:+.3f}, {row['difference_high']:+.3f}]"
        )
    if known("min_detectable_difference"):
        text += f" (detectable: {row['min_detectable_difference']:.3f})"
    if known("kendall_tau"):
        text += f"; Kendall tau {row['kendall_tau']:.2f} [{row['tau_low']:.2f}, {row['tau_high']:.2f}]"
    if known("tau_noise_ceiling"):
        text += f", noise ceiling {row['tau_noise_ceiling']:.2f}"
    if known("seed_pair_tau"):
        text += f" (two seeds of every candidate agree to {row['seed_pair_tau']:.2f})"
    if known("tuned_kendall_tau"):
        text += (
            f"; after fine-tuning each path: Kendall tau {row['tuned_kendall_tau']:.2f} "
            f"[{row['tuned_tau_low']:.2f}, {row['tuned_tau_high']:.2f}]"
        )
    return text + (f"; left out: {row['left_out']}" if row.get("left_out") else "")


VERDICTS = {"better": "searched better", "worse": "random better"}
# the statistics' columns, present at every target whether or not they could be computed there
ARM_COLUMNS = [
    "searched_top1", "searched_low", "searched_high", "random_top1", "random_low", "random_high", "difference",
    "difference_low", "difference_high", "p_value", "share_beaten", "images", "verdict", "min_detectable_difference",
]  # fmt: skip
TAU_COLUMNS = [
    "tau_candidates", "kendall_tau", "tau_low", "tau_high", "sparse_kendall_tau", "seed_sd", "tau_noise_ceiling",
    "seed_pair_tau",
    "tuned_kendall_tau", "tuned_tau_low", "tuned_tau_high",
]  # fmt: skip


def _arm_comparison(kept: pd.DataFrame, per_image: dict, p: SearchQualityParams) -> dict:
    # the searched arm is one architecture: its seeds are its models; a random architecture's seeds
    # are averaged image by image, so the random arm's models are architectures
    searched = kept[kept["kind"] == "searched"]
    arms = [[per_image[(t, r)] for t, r in zip(searched["target"], searched["run"], strict=True)], []]
    for _, runs in kept[kept["kind"] == "random"].groupby("candidate", sort=False):
        arms[1].append(np.mean([per_image[(t, r)] for t, r in zip(runs["target"], runs["run"], strict=True)], axis=0))
    if not all(arms):  # every column still there (empty), so the table keeps one schema
        return dict.fromkeys(ARM_COLUMNS) | {"verdict": "not enough runs: an arm has no run that did not diverge"}
    c = compare_arms(np.stack(arms[0]), np.stack(arms[1]), p.bootstrap_rounds, p.seed)
    return {
        "searched_top1": c.mean_a,
        "searched_low": c.low_a,
        "searched_high": c.high_a,
        "random_top1": c.mean_b,
        "random_low": c.low_b,
        "random_high": c.high_b,
        "difference": c.difference,
        "difference_low": c.difference_low,
        "difference_high": c.difference_high,
        "p_value": c.p_value,
        "share_beaten": c.share_beaten,
        "images": c.images,
        "verdict": VERDICTS.get(c.verdict, c.verdict),
        # the smallest difference this comparison could have shown (80% power at 95%)
        "min_detectable_difference": min_detectable_difference(c.difference_low, c.difference_high),
    }


def _supernet_ranking(kept: pd.DataFrame, p: SearchQualityParams) -> dict:
    scored = kept.dropna(subset=["supernet_top1"])
    by_candidate = scored.groupby("candidate")
    ranked = by_candidate[["top1", "supernet_top1", "supernet_tuned_top1"]].mean()
    if len(ranked) < 3:  # no ranking to speak of; the columns stay, empty
        return dict.fromkeys(TAU_COLUMNS) | {"tau_candidates": len(ranked)}
    x, y = ranked["top1"].to_numpy(), ranked["supernet_top1"].to_numpy()
    low, high = kendall_tau_interval(x, y, p.bootstrap_rounds, p.seed)
    # the noise ceiling: how well two retrainings of these candidates agree (each candidate's top-1
    # a mean over its seeds), with the seeds' spread pooled over every candidate retrained more than
    # once (None when none was)
    seed_sd = pooled_seed_sd([g.to_numpy() for _, g in by_candidate["top1"]])
    runs = by_candidate.size().to_numpy()  # in ranked's order: one grouping
    row = {
        "tau_candidates": len(ranked),
        "kendall_tau": kendall_tau(x, y),
        "tau_low": low,
        "tau_high": high,
        "sparse_kendall_tau": kendall_tau(x, y, p.sparse_tau_threshold),
        "seed_sd": seed_sd,
        "tau_noise_ceiling": None if seed_sd is None else tau_noise_ceiling(x, seed_sd / np.sqrt(runs), seed=p.seed),
        "seed_pair_tau": _seed_pair_tau(scored),
    }
    tuned = ranked["supernet_tuned_top1"].to_numpy(dtype=float)
    if np.isnan(tuned).any():  # the study did not fine-tune (tuned_epochs: 0)
        return row | dict.fromkeys(["tuned_kendall_tau", "tuned_tau_low", "tuned_tau_high"])
    tuned_low, tuned_high = kendall_tau_interval(x, tuned, p.bootstrap_rounds, p.seed)
    return row | {"tuned_kendall_tau": kendall_tau(x, tuned), "tuned_tau_low": tuned_low, "tuned_tau_high": tuned_high}


def _seed_pair_tau(scored: pd.DataFrame) -> float | None:
    """Kendall tau between the first two retrainings (seed offsets 0 and 1) of every candidate that
    has both: the agreement between retraining seeds, measured (None with fewer than 3 such)."""
    pairs = scored[scored["seed_offset"] < 2].pivot_table(index="candidate", columns="seed_offset", values="top1")
    pairs = pairs.dropna() if pairs.shape[1] == 2 else pairs.iloc[:0]
    return kendall_tau(pairs[0], pairs[1]) if len(pairs) >= 3 else None


def candidate_key(kind: str, index: int | None) -> str:
    """The namespace of a candidate within its target: ``searched``, ``random_<i>``, ``zoo``."""
    return kind if kind != "random" else f"random_{index}"


def study_runs(p: SearchQualityParams) -> list[tuple[str, str, int]]:
    """Every retraining of a target: (namespace, candidate key, offset of the training seed): the
    searched architecture's seeds, each random one's, the zoo model."""
    keys = [("searched", "searched"), *[("random", candidate_key("random", i)) for i in range(p.random_architectures)],
            ("zoo", "zoo")]  # fmt: skip
    return [(run, key, offset) for kind, key in keys
            for run, offset in candidate_runs(kind, key, p.searched_seeds, p.random_seeds)]  # fmt: skip
