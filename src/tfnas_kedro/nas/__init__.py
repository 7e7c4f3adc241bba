"""TF-NAS as a plain PyTorch library (no Kedro): search spaces, architectures, networks, cost.

from tfnas_kedro.nas import zoo_arch, build_network, count_macs
arch = zoo_arch("TF-NAS-A", num_classes=100)
net = build_network(arch)
print(count_macs(arch) / 1e6, "M MACs")
"""

import os

# oneDNN (torch's CPU convolutions) caches 1024 compiled convolution primitives by default, one per
# shape. A supernet whose widths elasticity-scaling has set op by op has more distinct shapes than
# that, so every step recompiled them: steps took twice as long late in a search as at its start
# (docs/search.md, "A search that learns"). Read when oneDNN first runs, so before any convolution; a
# value the user set wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16384")

from .arch import ACTIVATIONS, ArchDescription, BlockSpec, HeadSpec, StemSpec  # noqa: E402
from .checkpoints import network_with_weights
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
    "network_with_weights",
    "zoo_arch",
    "zoo_names",
]
