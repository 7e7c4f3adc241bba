"""The ``data_selection`` pipeline: raw images -> index -> ranking -> class subset -> search split."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.draw_demo_images, ["params:data", "params:demo_data"], "raw_images", name="draw_demo_images"),
            node(
                nodes.index_images,
                ["raw_images", "params:data"],
                ["image_index", "skipped_images"],
                name="index_images",
            ),
            node(
                nodes.score_training_images,
                ["image_index", "params:ranking"],
                "image_scores",
                name="score_training_images",
            ),
            node(nodes.rank_classes, "image_scores", "class_ranking", name="rank_classes"),
            node(nodes.select_classes, ["class_ranking", "params:selection"], "class_selection", name="select_classes"),
            node(
                nodes.split_selected_classes,
                ["image_index", "class_selection", "params:selection"],
                "search_split",
                name="split_selected_classes",
            ),
            node(nodes.plot_class_accuracy, "class_selection", "class_accuracy_plot", name="plot_class_accuracy"),
        ]
    )
