"""The ``train_zoo`` pipeline: train a published model (``params:train_zoo.model``) like a searched one;
its outputs live under the ``zoo`` namespace (``zoo.trained_model``, ...)."""

from kedro.pipeline import Pipeline, node, pipeline

from tfnas_kedro.pipelines._names import RunParameters, required
from tfnas_kedro.pipelines.train import nodes
from tfnas_kedro.pipelines.train.pipeline import training_nodes


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    runtime = required(run, "train_zoo").get("latency.runtime", "torch")
    pick = node(nodes.pick_zoo_architecture, "params:train_zoo", "train_architecture", name="pick_zoo_architecture")
    return pipeline(
        [pick, training_nodes(runtime=runtime)],
        namespace="zoo",
        inputs={"search_split", "image_index", "latency_table"},
        parameters={"params:train", "params:latency", "params:train_zoo"},
    )
