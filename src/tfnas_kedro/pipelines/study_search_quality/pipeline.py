"""``kedro run --pipelines study_search_quality``: for each of ``studies.search_quality.targets``, a
search (all of them starting from one shared warm-up, which does not depend on the target), then
its searched architecture (retrained with ``searched_seeds`` seeds), ``random_architectures``
random ones scaled to the same table latency (each retrained with ``random_seeds`` seeds) and
the closest published model, each retrained with one recipe and scored once on the test split;
the searched and random ones are also scored through the trained supernet. One table of runs,
one of statistics and two figures at the end.

Namespaces: ``search_quality`` for the study, ``search_quality.<target>`` for a target's search,
``search_quality.<target>.<run>`` (``searched_seed<k>``, ``random_<i>`` or ``random_<i>_seed<k>``,
``zoo``) for each retraining."""

from kedro.pipeline import Pipeline, node, pipeline

from tfnas_kedro.params import search_quality_params, study_search_settings, study_train_settings
from tfnas_kedro.pipelines._names import RunParameters, required
from tfnas_kedro.pipelines.search.nodes import run_warmup
from tfnas_kedro.pipelines.search.pipeline import create_pipeline as create_search_pipeline
from tfnas_kedro.pipelines.train.pipeline import training_nodes

from . import nodes

STUDY = "params:studies.search_quality"
NS = "search_quality"
DATA = ("search_split", "image_index", "latency_table")


def namespaces(run: RunParameters) -> list[str]:
    return [f"{NS}.{target}" for target in run.names("studies.search_quality.targets")]


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    run = required(run, "study_search_quality")
    targets = run.names("studies.search_quality.targets")
    study = search_quality_params(run.get("studies.search_quality"))  # its defaults, written once there
    seeds = study.seeds
    runs = nodes.study_runs(study)
    shared = pipeline(
        [
            node(study_search_settings, ["params:search", STUDY], "search_settings", name="search_settings"),
            node(study_train_settings, ["params:train", STUDY], "train_settings", name="train_settings"),
            *[node(nodes.train_settings_with_seed(k), "train_settings", f"train_settings_seed{k}",
                   name=f"train_settings_seed{k}") for k in range(seeds)],
            node(run_warmup, ["search_split", "latency_table", "search_settings", "params:search_spaces"],
                 "search_warmup", name="warmup"),
        ],
        namespace=NS,
        inputs={"search_split", "latency_table"},
        parameters={"params:search", "params:train", "params:search_spaces", STUDY},
    )  # fmt: skip
    per_target = [_target_pipeline(target, runs, seeds) for target in targets]
    per_run = {f"{t}_{r}_{kind}": f"{NS}.{t}.{r}.{dataset}" for t in targets for r, _, _ in runs
               for kind, dataset in (("metrics", "training_metrics"), ("test", "test_metrics"))}  # fmt: skip
    summary = node(
        nodes.summarise_search_quality,
        {
            "study": STUDY,
            **{f"{t}_summary": f"{NS}.{t}.search_summary" for t in targets},
            **{f"{t}_candidates": f"{NS}.{t}.search_quality_candidates" for t in targets},
            **{f"{t}_supernet_scores": f"{NS}.{t}.supernet_scores" for t in targets},
            **per_run,
        },
        [
            "study_search_quality_table",
            "study_search_quality_stats",
            "study_search_quality_plot",
            "study_search_quality_ranking_plot",
        ],
        name="summarise",
        namespace=NS,  # it reads the targets' namespaced outputs
    )
    return shared + sum(per_target, start=Pipeline([])) + pipeline([summary])


def _target_pipeline(target: str, runs: list[tuple[str, str, int]], seeds: int) -> Pipeline:
    """The search of one target, its candidates, their scores through the supernet and their
    retraining, in namespace ``search_quality.<target>``."""
    search = create_search_pipeline(settings="search_settings", warmup="search_warmup")
    candidates = list(dict.fromkeys(key for _, key, _ in runs))  # searched, random_<i> ..., zoo
    pick = node(
        nodes.pick_candidates,
        ["searched_architecture", "search_summary", "search_target", "latency_table", "search_settings",
         "params:search_spaces", STUDY],
        ["search_quality_candidates", *[f"{c}_candidate" for c in candidates]],
        name="pick_candidates",
    )  # fmt: skip
    score = node(
        nodes.score_through_supernet,
        [
            "search_result",
            "search_quality_candidates",
            "search_split",
            "image_index",
            "search_settings",
            "train_settings",
            STUDY,
        ],
        "supernet_scores",
        name="score_through_supernet",
    )
    trainings = [_retraining(*run) for run in runs]
    return pipeline(
        [search, pick, score, *trainings],
        namespace=f"{NS}.{target}",
        inputs={
            **{name: name for name in DATA},
            "search_settings": f"{NS}.search_settings",
            "search_warmup": f"{NS}.search_warmup",
            "train_settings": f"{NS}.train_settings",
            **{f"train_settings_seed{k}": f"{NS}.train_settings_seed{k}" for k in range(seeds)},
        },
        parameters={
            "params:target": f"params:studies.search_quality.targets.{target}",
            "params:latency": "params:latency",
            "params:search_spaces": "params:search_spaces",
            STUDY: STUDY,
        },
    )


def _retraining(run: str, key: str, offset: int) -> Pipeline:
    """One retraining of a target's candidate ``key`` with the training seed moved by ``offset``, in
    namespace ``run``: its start weights, then the train pipeline's nodes."""
    return pipeline(
        [
            node(
                nodes.candidate_start_weights(key),
                ["search_result", "search_quality_candidates", "train_settings"],
                "train_start_weights",
                name="start_weights",
            ),
            *training_nodes(settings="train_settings", export=False, start="train_start_weights").nodes,
        ],  # fmt: skip
        namespace=run,
        inputs={
            **{name: name for name in DATA},
            "search_result": "search_result",
            "search_quality_candidates": "search_quality_candidates",
            "train_architecture": f"{key}_candidate",
            "train_settings": f"train_settings_seed{offset}",
        },
        parameters={"params:latency"},
    )
