"""The ``search`` pipeline: one target (``params:target``), one search."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def create_pipeline(settings: str = "params:search", warmup: str | None = None, **kwargs) -> Pipeline:
    """Search for ``params:target``: resolve it, search, derive, summarise, plot. ``settings`` names
    the search settings' input (the studies feed each run its own merged settings); ``warmup`` a
    shared warm-up state to start from (:func:`nodes.run_warmup`)."""
    return pipeline(
        [
            node(
                nodes.resolve_target,
                ["latency_table", settings, "params:target", "params:latency", "params:search_spaces"],
                "search_target",
                name="resolve_search_target",
            ),
            node(
                nodes.run_search,
                ["search_split", "latency_table", "search_target", settings, "params:search_spaces"]
                + ([warmup] if warmup else []),
                ["search_result", "search_history"],
                name="run_search",
            ),
            node(
                nodes.derive_searched_architecture,
                [
                    "search_result",
                    "latency_table",
                    "search_target",
                    settings,
                    "params:latency",
                    "params:search_spaces",
                ],
                ["searched_architecture", "search_summary", "searched_subnet"],
                name="derive_searched_architecture",
            ),
            node(
                nodes.plot_search,
                ["search_history", "searched_architecture", "search_target", "params:search_spaces", settings],
                ["search_latency_plot", "search_probabilities_plot", "search_widths_plot"],
                name="plot_search",
            ),
        ]
    )
