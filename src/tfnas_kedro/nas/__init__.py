"""TF-NAS as a plain PyTorch library (no Kedro): search spaces, architectures, networks, cost.

from tfnas_kedro.nas import zoo_arch, build_network, count_macs
arch = zoo_arch("TF-NAS-A", num_classes=100)
net = build_network(arch)
print(count_macs(arch) / 1e6, "M MACs")
"""

from .arch import ACTIVATIONS, ArchDescription, BlockSpec, HeadSpec, StemSpec
from .cost import count_macs, count_params, measure_macs
from .errors import ConfigError
from .network import TFNASNet, build_network
from .space import LayerPosition, OpSpec, SearchSpace, StageSpec, load_search_spaces
from .zoo import zoo_arch, zoo_names

__all__ = [
    "ACTIVATIONS",
    "ArchDescription",
    "BlockSpec",
    "ConfigError",
    "HeadSpec",
    "LayerPosition",
    "OpSpec",
    "SearchSpace",
    "StageSpec",
    "StemSpec",
    "TFNASNet",
    "build_network",
    "count_macs",
    "count_params",
    "load_search_spaces",
    "measure_macs",
    "zoo_arch",
    "zoo_names",
]
