"""The ``latency`` pipeline: measure the lookup table, calibrate it, check it against whole networks."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                nodes.measure_latency_table,
                ["params:latency", "params:search_spaces"],
                "raw_latency_table",
                name="measure_latency_table",
            ),
            node(
                nodes.calibrate_latency_table,
                ["raw_latency_table", "params:latency", "params:search_spaces"],
                ["latency_table", "latency_calibration", "latency_fidelity", "latency_fidelity_summary"],
                name="calibrate_latency_table",
            ),
            node(
                nodes.plot_latency_fidelity,
                ["latency_fidelity", "latency_calibration", "latency_fidelity_summary"],
                "latency_fidelity_plot",
                name="plot_latency_fidelity",
            ),
        ]
    )
