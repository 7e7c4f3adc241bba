"""The ``train`` pipeline: retrain the searched architecture, export it, summarise, plot."""

from kedro.pipeline import Pipeline, node, pipeline

from .._names import RunParameters, required
from . import nodes


def training_nodes(
    settings: str = "params:train", export: bool = True, start: str | None = None, runtime: str = "torch"
) -> Pipeline:
    """Train whatever ``train_architecture`` is (free input), so it can be fed any description.
    ``settings`` names the training settings' input; ``export=False`` leaves out the ONNX export
    (studies that compare accuracy only); ``start`` names the weights to start from (an input
    that is empty for ``init: scratch``); ``runtime`` is the table's (``latency.runtime``)."""
    train = node(
        nodes.train_network,
        ["train_architecture", "search_split", "image_index", settings, *([start] if start else [])],
        ["trained_model", "training_history"],
        name="train_network",
    )
    export_nodes = [
        node(
            nodes.export_trained_network,
            ["trained_model", settings],
            ["trained_model_onnx", "trained_architecture", "onnx_export_check"],
            name="export_trained_network",
        )
    ]
    # where the table is ExecuTorch's, the program that ships is exported and timed too
    program = export and runtime == "executorch"
    if program:
        export_nodes.append(
            node(
                nodes.export_executorch_program,
                ["trained_model", settings, "params:latency"],
                ["trained_model_pte", "executorch_export_check"],
                name="export_executorch_program",
            )
        )
    plan = node(nodes.plan_timing, ["latency_table", settings, "params:latency"], "timing_plan", name="plan_timing")
    summary_inputs = ["trained_model", "latency_table", settings, "timing_plan"]
    summary_inputs += ["onnx_export_check"] if export else []
    summary_inputs += ["executorch_export_check"] if program else []
    return pipeline(
        [
            plan,
            train,
            *(export_nodes if export else []),
            node(nodes.summarise_training, summary_inputs, "training_metrics", name="summarise_training"),
            node(
                nodes.evaluate_on_test,
                ["trained_model", "search_split", "image_index", settings],
                "test_metrics",
                name="evaluate_on_test",
            ),
            node(nodes.plot_training, "training_history", "training_curves_plot", name="plot_training"),
        ]
    )


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    runtime = required(run, "train").get("latency.runtime", "torch")
    start = node(
        nodes.inherited_weights,
        ["train_architecture", "search_result", "searched_subnet", "params:train"],
        "train_start_weights",
        name="inherited_weights",
    )
    return pipeline(
        [start, *training_nodes(start="train_start_weights", runtime=runtime).nodes],
        inputs={"train_architecture": "searched_architecture"},
    )
