"""``params:report``: the ``report`` pipeline."""

from __future__ import annotations

from pydantic import Field

from .base import Params

# torchvision's reference models: the report's name of each, and torchvision's (the report's
# nodes build the architecture only, no download, and read ImageNet top-1 from the weights' own
# metadata, which ships with torchvision)
REFERENCE_MODELS = {
    "MobileNetV2": "mobilenet_v2",
    "MobileNetV3-Large": "mobilenet_v3_large",
    "EfficientNet-B0": "efficientnet_b0",
    "MNASNet-1.0": "mnasnet1_0",
}


class ReportParams(Params):
    title: str = "TF-NAS report"
    reference_models: list[str] = Field(default_factory=lambda: list(REFERENCE_MODELS))
    measure_reference_models: bool = True
