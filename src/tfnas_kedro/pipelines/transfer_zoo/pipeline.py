"""The ``transfer_zoo`` pipeline: ``params:transfer_zoo.model`` with the weights of the catalog
entry ``zoo_weights`` (any checkpoint path), fine-tuned like the trained model; outputs under
``zoo.<set>.*`` and ``zoo.transfer_table``."""

from kedro.pipeline import Pipeline, node, pipeline

from tfnas_kedro.pipelines._names import RunParameters, required
from tfnas_kedro.pipelines.transfer import nodes
from tfnas_kedro.pipelines.transfer.pipeline import demo_data, fine_tuning, set_names


def namespaces(run: RunParameters) -> list[str]:
    return [f"zoo.{name}" for name in set_names(run)]


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    names = set_names(required(run, "transfer_zoo"))
    source = node(
        nodes.zoo_source_model,
        ["zoo_weights", "params:transfer_zoo"],
        "zoo.source_model",
        name="zoo_source_model",
        namespace="zoo",
    )
    return demo_data() + pipeline([source]) + fine_tuning("zoo.source_model", names, namespace="zoo")
