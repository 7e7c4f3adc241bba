"""The ``transfer`` pipeline: the trained model fine-tuned once per entry of ``transfer_sets``
(CIFAR-10 and CIFAR-100), each in its own namespace ``transfer.<set>``, then one table across them."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from tfnas_kedro.pipelines._names import RunParameters, required

from . import nodes


def set_names(run: RunParameters) -> list[str]:
    return run.names("transfer_sets")


def namespaces(run: RunParameters) -> list[str]:
    return [f"transfer.{name}" for name in set_names(run)]


def fine_tuning(source: str, names: list[str], namespace: str) -> Pipeline:
    """Fine-tune ``source`` (a training checkpoint in the catalog) on every set, in namespace
    ``<namespace>.<set>``, then tabulate into ``transfer_table`` (``<namespace>.transfer_table``
    unless the namespace is ``transfer``)."""
    template = pipeline(
        [
            node(
                nodes.fine_tune,
                ["source_model", "cifar_raw", "params:transfer", "params:transfer_set"],
                ["finetuned_model", "transfer_history"],
                name="fine_tune",
            ),
            node(
                nodes.summarise_transfer,
                ["finetuned_model", "params:transfer", "params:transfer_set"],
                "transfer_metrics",
                name="summarise_transfer",
            ),
        ]
    )
    prefix = "" if namespace == "transfer" else f"{namespace}."
    copies = [
        pipeline(
            template,
            namespace=f"{namespace}.{name}",
            inputs={"source_model": source, "cifar_raw": "cifar_raw"},
            parameters={"params:transfer": "params:transfer", "params:transfer_set": f"params:transfer_sets.{name}"},
        )
        for name in names
    ]
    table = node(
        nodes.tabulate_transfer,
        ["published_transfer", *[f"{namespace}.{name}.transfer_metrics" for name in names]],
        [f"{prefix}transfer_table", f"{prefix}transfer_table_plot"],
        name="tabulate_transfer",
        namespace=namespace,  # it reads the sets' namespaced outputs
    )
    return sum(copies, start=Pipeline([])) + pipeline([table])


def demo_data() -> Pipeline:
    return pipeline(
        [node(nodes.draw_demo_cifar, ["params:transfer", "params:demo_cifar"], "cifar_raw", name="draw_demo_cifar")]
    )


def create_pipeline(run: RunParameters | None = None, **kwargs) -> Pipeline:
    return demo_data() + fine_tuning("trained_model", set_names(required(run, "transfer")), namespace="transfer")
