"""The ``report`` pipeline: reference models measured here, then one HTML page and its figures
from the latest (or pinned) artifacts; any of them may be missing."""

from kedro.pipeline import Pipeline, node, pipeline

from tfnas_kedro.pipelines._names import RunParameters, required

from . import nodes

# read optionally on their own; in the default run, from the pipelines that produce them
CHAINED_INPUTS = [
    "search_summary",
    "search_history",
    "searched_architecture",
    "latency_fidelity",
    "latency_fidelity_summary",
    "training_metrics",
    "training_history",
    "transfer_table",
    "latency_table",
]


def create_pipeline(run: RunParameters | None = None, chained: bool = False, **kwargs) -> Pipeline:
    """The report over the latest artifacts (each optional), with a section per latency target
    (``latency_targets``). ``chained``: its inputs are the producing pipelines' own datasets, so
    that in one run it comes after all of them."""
    targets = required(run, "report").names("latency_targets")
    report = pipeline(
        [
            node(
                nodes.measure_reference_models,
                ["optional_latency_table", "params:report", "params:latency"],
                "reference_models",
                name="measure_reference_models",
            ),
            node(
                nodes.collect_target_summaries,
                {name: f"optional_{name}_search_summary" for name in targets},
                "report_target_summaries",
                name="collect_target_summaries",
            ),
            node(
                nodes.build_report,
                [
                    "optional_search_summary",
                    "optional_search_history",
                    "optional_searched_architecture",
                    "report_target_summaries",
                    "optional_latency_fidelity",
                    "optional_latency_fidelity_summary",
                    "optional_training_metrics",
                    "optional_training_history",
                    "optional_transfer_table",
                    "optional_study_search_quality_table",
                    "optional_study_search_quality_stats",
                    "reference_models",
                    "published_results",
                    "params:report",
                ],
                ["report_html", "report_summary", *[f"report_{name}_plot" for name in nodes.FIGURES]],
                name="build_report",
            ),
        ]
    )
    if chained:
        return pipeline(report, inputs={f"optional_{name}": name for name in CHAINED_INPUTS})
    return report
