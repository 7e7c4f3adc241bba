"""The ``zoo`` pipeline: published architectures -> versioned descriptions and a cost table."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import collect_zoo_architectures, summarise_architectures


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(collect_zoo_architectures, "params:zoo", "zoo_architectures", name="collect_zoo_architectures"),
            node(summarise_architectures, "zoo_architectures", "zoo_summary", name="summarise_zoo_architectures"),
        ]
    )
