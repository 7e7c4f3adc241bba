"""The ``train`` pipeline: retrain the searched architecture, export it, summarise, plot."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def training_nodes() -> Pipeline:
    """Train whatever ``train_architecture`` is (free input), so it can be fed any description."""
    return pipeline(
        [
            node(
                nodes.train_network,
                ["train_architecture", "search_split", "image_index", "params:train"],
                ["trained_model", "training_history"],
                name="train_network",
            ),
            node(
                nodes.export_trained_network,
                ["trained_model", "params:train"],
                ["trained_model_onnx", "trained_architecture", "onnx_export_check"],
                name="export_trained_network",
            ),
            node(
                nodes.summarise_training,
                ["trained_model", "onnx_export_check", "latency_table", "params:train", "params:latency"],
                "training_metrics",
                name="summarise_training",
            ),
            node(nodes.plot_training, "training_history", "training_curves_plot", name="plot_training"),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(training_nodes(), inputs={"train_architecture": "searched_architecture"})
