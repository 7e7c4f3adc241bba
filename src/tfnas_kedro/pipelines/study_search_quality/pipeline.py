"""``kedro run --pipelines study_search_quality``: for each of ``studies.search_quality.targets``, a
search (all of them starting from one shared warm-up, which does not depend on the target), then
its searched architecture, ``random_architectures`` random ones scaled to the same table latency and
the closest published model, each retrained with one recipe; one table and one figure at the end.

Namespaces: ``search_quality`` for the study, ``search_quality.<target>`` for a target's search,
``search_quality.<target>.<candidate>`` (``searched``, ``random_<i>``, ``zoo``) for each retraining."""

from kedro.pipeline import Pipeline, node, pipeline

from tfnas_kedro.pipelines._names import run_parameter, run_parameter_keys
from tfnas_kedro.pipelines.search.nodes import run_warmup
from tfnas_kedro.pipelines.search.pipeline import create_pipeline as create_search_pipeline
from tfnas_kedro.pipelines.train.pipeline import training_nodes

from . import nodes

STUDY = "params:studies.search_quality"
NS = "search_quality"


def create_pipeline(**kwargs) -> Pipeline:
    targets = run_parameter_keys("studies.search_quality.targets")
    candidates = nodes.candidate_keys(int(run_parameter("studies.search_quality.random_architectures", 3)))
    shared = pipeline(
        [
            node(nodes.study_search_settings, ["params:search", STUDY], "search_settings", name="search_settings"),
            node(nodes.study_train_settings, ["params:train", STUDY], "train_settings", name="train_settings"),
            node(run_warmup, ["search_split", "latency_table", "search_settings", "params:search_spaces"],
                 "search_warmup", name="warmup"),
        ],
        namespace=NS,
        inputs={"search_split", "latency_table"},
        parameters={"params:search", "params:train", "params:search_spaces", STUDY},
    )  # fmt: skip
    per_target = [_target_pipeline(target, candidates) for target in targets]
    summary = node(
        nodes.summarise_search_quality,
        {
            "study": STUDY,
            **{f"{t}_summary": f"{NS}.{t}.search_summary" for t in targets},
            **{f"{t}_candidates": f"{NS}.{t}.search_quality_candidates" for t in targets},
            **{f"{t}_{c}_metrics": f"{NS}.{t}.{c}.training_metrics" for t in targets for c in candidates},
        },
        ["study_search_quality_table", "study_search_quality_plot"],
        name="summarise",
        namespace=NS,  # it reads the targets' namespaced outputs
    )
    return shared + sum(per_target, start=Pipeline([])) + pipeline([summary])


def _target_pipeline(target: str, candidates: list[str]) -> Pipeline:
    """The search of one target, its candidates and their retraining, in namespace ``search_quality.<target>``."""
    search = create_search_pipeline(settings="search_settings", warmup="search_warmup")
    pick = node(
        nodes.pick_candidates,
        ["searched_architecture", "search_target", "latency_table", "search_settings", "params:search_spaces", STUDY],
        ["search_quality_candidates", *[f"{c}_candidate" for c in candidates]],
        name="pick_candidates",
    )
    trainings = [
        pipeline(
            training_nodes(settings="train_settings", export=False),
            namespace=c,
            inputs={
                **{name: name for name in ("search_split", "image_index", "latency_table", "train_settings")},
                "train_architecture": f"{c}_candidate",
            },
            parameters={"params:latency"},
        )
        for c in candidates
    ]
    return pipeline(
        [search, pick, *trainings],
        namespace=f"{NS}.{target}",
        inputs={
            "search_split": "search_split",
            "image_index": "image_index",
            "latency_table": "latency_table",
            "search_settings": f"{NS}.search_settings",
            "search_warmup": f"{NS}.search_warmup",
            "train_settings": f"{NS}.train_settings",
        },
        parameters={
            "params:target": f"params:studies.search_quality.targets.{target}",
            "params:latency": "params:latency",
            "params:search_spaces": "params:search_spaces",
            STUDY: STUDY,
        },
    )
