"""A remedy for the supernet's ranking, measured on a finished ``study_search_quality`` run.

    python benchmarks/search_remedies.py --project PATH --name distill \\
        --search '{"distill_other_paths": true}' [--targets high,low] [--threads 2]

``PATH`` is a project folder whose data holds a finished study (``kedro run --pipelines
study_search_quality``). For each target, in the order given: a search with the study's settings
updated by ``--search`` (from a warm-up of its own), its searched architecture retrained with the
study's seeds and recipe and scored once on the test split, and the study's random candidates
scored through the new supernet (BatchNorm recalibrated). The random arm is the study's own
(the same architectures, retrained once): a remedy changes the search, not the random
architectures. Printed beside the study's figures (before): the searched-minus-random difference
with its 95% interval, and Kendall tau between supernet-inherited and retrained top-1, over the
searched and random candidates and over the random ones alone (the same 8 architectures before
and after). Written to ``data/07_model_output/search_remedies/<name>.json`` in the project after
each target. Nothing here reads the test split to choose anything: the remedy and the targets
are fixed before the run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tfnas_kedro.artifacts import Candidate, Candidates
from tfnas_kedro.nas.stats import compare_arms, kendall_tau, kendall_tau_interval
from tfnas_kedro.params import SearchQualityParams, parse_params, study_search_settings, study_train_settings
from tfnas_kedro.pipelines.search.nodes import derive_searched_architecture, run_search, run_warmup
from tfnas_kedro.pipelines.study_search_quality.nodes import score_through_supernet, train_settings_with_seed
from tfnas_kedro.pipelines.train.nodes import evaluate_on_test, train_network
from tfnas_kedro.training.divergence import divergence_reason


def study_arms(catalog, target: str, p) -> dict:
    """The study's runs of ``target``: per-image test records of its searched seeds and random
    candidates (a random one's kept seeds averaged image by image, as the study counts it; diverged
    runs left out), their retrained top-1 and the supernet's scores."""
    ns = f"search_quality.{target}"
    candidates = catalog.load(f"{ns}.search_quality_candidates")
    randoms, searched = candidates.of_kind("random"), candidates.of_kind("searched")[0]
    random_hits, random_top1 = [], {}
    for c in randoms:
        runs = [run for run, _ in c.runs(p.searched_seeds, p.random_seeds)]
        kept = [run for run in runs if not catalog.load(f"{ns}.{run}.training_metrics").diverged]
        if not kept:
            continue
        hits = np.mean([catalog.load(f"{ns}.{run}.test_metrics").correct_per_image for run in kept], axis=0)
        random_hits.append(hits)
        random_top1[c.key] = float(hits.mean())
    searched_hits = [
        np.asarray(catalog.load(f"{ns}.searched_seed{k}.test_metrics").correct_per_image)
        for k in range(p.searched_seeds)
        if not catalog.load(f"{ns}.searched_seed{k}.training_metrics").diverged
    ]
    return {
        "target": catalog.load(f"{ns}.search_target"),
        "randoms": randoms,
        "searched": searched,
        "random_hits": random_hits,
        "random_top1": random_top1,
        "searched_hits": searched_hits,
        "scores": catalog.load(f"{ns}.supernet_scores"),
    }


def figures(searched_hits, random_hits, random_top1, scores, searched_key, p) -> dict:
    """The difference of the arms and the supernet's Kendall tau, as the study computes them."""
    c = compare_arms(np.stack(searched_hits), np.stack(random_hits), p.bootstrap_rounds, p.seed)
    keys = list(random_top1)
    retrained = np.array([random_top1[k] for k in keys] + [float(np.mean([h.mean() for h in searched_hits]))])
    inherited = np.array([scores.top1(k) for k in keys] + [scores.top1(searched_key)])
    low, high = kendall_tau_interval(retrained, inherited, p.bootstrap_rounds, p.seed)
    return {
        "searched_top1": c.mean_a,
        "random_top1": c.mean_b,
        "difference": c.difference,
        "difference_low": c.difference_low,
        "difference_high": c.difference_high,
        "verdict": c.verdict,
        "share_beaten": c.share_beaten,
        "kendall_tau": kendall_tau(retrained, inherited),
        "tau_low": low,
        "tau_high": high,
        "kendall_tau_randoms": kendall_tau(retrained[:-1], inherited[:-1]),
        "supernet_top1_searched": scores.top1(searched_key),
        "supernet_top1_randoms": [scores.top1(k) for k in keys],
    }


def study_tau(arms: dict) -> float:
    """Kendall tau from the study's own supernet scores (crops drawn per candidate)."""
    keys = list(arms["random_top1"])
    searched = float(np.mean([h.mean() for h in arms["searched_hits"]]))
    retrained = [arms["random_top1"][k] for k in keys] + [searched]
    inherited = [arms["scores"].top1(k) for k in keys] + [arms["scores"].top1("searched")]
    return kendall_tau(np.array(retrained), np.array(inherited))


def remedy_target(catalog, params, target_name: str, settings: dict, warmup: dict, p) -> dict:
    """One target: the remedy's search, its retrained searched architecture, and both figures."""
    arms, spaces = study_arms(catalog, target_name, p), params["search_spaces"]
    split, index, table = catalog.load("search_split"), catalog.load("image_index"), catalog.load("latency_table")
    started = time.perf_counter()
    study = params["studies"]["search_quality"]
    result, history = run_search(split, table, arms["target"], settings, spaces, warmup)
    arch, summary, _ = derive_searched_architecture(result, table, arms["target"], settings, params["latency"], spaces)
    searched_s = time.perf_counter() - started
    candidate = Candidate(key="remedy_searched", kind="searched", name=arch.name, subnet=summary.subnet,
                          table_ms=summary.table_ms, architecture=arch.model_dump(mode="json"))  # fmt: skip
    scores = score_through_supernet(
        result, Candidates(candidates=[candidate, *arms["randoms"]]), split, settings, study
    )
    train = study_train_settings(params["train"], params["studies"]["search_quality"])
    hits, runs = [], []
    for k in range(p.searched_seeds):
        seeded = train_settings_with_seed(k)(train)
        state, _ = train_network(arch, split, index, seeded)
        test = evaluate_on_test(state, split, index, seeded)
        reason = divergence_reason(state["history"], arch.num_classes)
        runs.append({"seed_offset": k, "top1": test.top1, "diverged": reason is not None, "divergence": reason})
        if reason is None:
            hits.append(np.asarray(test.correct_per_image))
    # the study's supernet scored again as the remedy's is (same recalibration batches for all)
    study_result = catalog.load(f"search_quality.{target_name}.search_result")
    study_candidates = Candidates(candidates=[arms["searched"], *arms["randoms"]])
    before_scores = score_through_supernet(study_result, study_candidates, split, settings, study)
    before = figures(arms["searched_hits"], arms["random_hits"], arms["random_top1"], before_scores, "searched", p)
    before["kendall_tau_as_the_study_scored"] = study_tau(arms)
    after = figures(hits, arms["random_hits"], arms["random_top1"], scores, "remedy_searched", p)
    last = history.iloc[-1]
    return {
        "target": target_name,
        "target_ms": arms["target"].target_ms,
        "searched_table_ms": summary.table_ms,
        "random_table_ms": [c.table_ms for c in arms["randoms"]],
        "architecture": arch.model_dump(mode="json"),
        "learned": summary.supernet.learned,
        "final_epoch": {
            k: float(last[k])
            for k in (
                "weight_loss",
                "alpha_path_loss",
                "other_path_loss",
                "val_top1",
                "val_top1_random_paths",
                "alpha_entropy",
            )
            if k in last
        },
        "retrainings": runs,
        "before": before,
        "after": after,
        "search_s": searched_s,
        "total_s": time.perf_counter() - started,
    }


def show(row: dict) -> None:
    print(
        f"\n{row['target']} ({row['target_ms']:.3f} ms; searched {row['searched_table_ms']:.3f} ms, randoms "
        f"{min(row['random_table_ms']):.3f}-{max(row['random_table_ms']):.3f} ms); supernet learned: {row['learned']}"
    )
    print(f"{'':8s} {'searched':>9s} {'random':>7s} {'difference [95%]':>24s} {'tau [95%]':>20s} {'tau randoms':>12s}")
    for when in ("before", "after"):
        f = row[when]
        print(f"{when:8s} {f['searched_top1']:9.3f} {f['random_top1']:7.3f} {f['difference']:+8.3f} "
              f"[{f['difference_low']:+.3f}, {f['difference_high']:+.3f}] {f['kendall_tau']:+6.2f} "
              f"[{f['tau_low']:+.2f}, {f['tau_high']:+.2f}] {f['kendall_tau_randoms']:+12.2f}")  # fmt: skip
    print(
        f"supernet top-1 of the randoms after: {', '.join(f'{s:.2f}' for s in row['after']['supernet_top1_randoms'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, required=True, help="a project folder holding a finished study")
    parser.add_argument("--name", required=True, help="the remedy's name (the output file's)")
    parser.add_argument("--search", type=json.loads, required=True, help="params:search changes, as JSON")
    parser.add_argument("--targets", default="high,low", help="the study's targets, in this order")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    project = args.project.resolve()
    os.chdir(project)  # relative checkpoint folders resolve in the project
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        p = parse_params(SearchQualityParams, params["studies"]["search_quality"], "studies.search_quality")
        settings = {**study_search_settings(params["search"], params["studies"]["search_quality"]), **args.search}
        started = time.perf_counter()
        warmup = run_warmup(
            catalog.load("search_split"), catalog.load("latency_table"), settings, params["search_spaces"]
        )
        out = {"name": args.name, "search": args.search, "warmup_s": time.perf_counter() - started, "targets": []}
        path = project / "data/07_model_output/search_remedies" / f"{args.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        for target in args.targets.split(","):
            row = remedy_target(catalog, params, target, settings, warmup, p)
            out["targets"].append(row)
            path.write_text(json.dumps(out, indent=1, default=float))
            show(row)
        print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
