"""Nodes of the ``zoo`` pipeline."""

from __future__ import annotations

import logging

import pandas as pd

from tfnas_kedro.nas.arch import ArchDescription
from tfnas_kedro.nas.cost import count_macs, count_params
from tfnas_kedro.nas.zoo import zoo_arch, zoo_names
from tfnas_kedro.params import ZooParams, parse_params

logger = logging.getLogger(__name__)


def collect_zoo_architectures(params: dict) -> dict[str, ArchDescription]:
    """The selected published architectures at the configured resolution and number of classes."""
    p = parse_params(ZooParams, params, "zoo")
    names = zoo_names() if p.models == "all" else p.models
    return {name: zoo_arch(name, num_classes=p.num_classes, resolution=p.resolution) for name in names}


def summarise_architectures(architectures: dict[str, ArchDescription]) -> pd.DataFrame:
    """One row per architecture: MACs and parameters in millions, depth, resolution, classes."""
    rows = [
        {
            "name": name,
            "space": arch.space,
            "blocks": len(arch.blocks),
            "resolution": arch.resolution,
            "num_classes": arch.num_classes,
            "macs_m": count_macs(arch) / 1e6,
            "params_m": count_params(arch) / 1e6,
        }
        for name, arch in architectures.items()
    ]
    table = pd.DataFrame(rows)
    shown = table[["name", "macs_m", "params_m"]].to_string(index=False, float_format="%.1f")
    logger.info("MACs and parameters (millions):\n%s", shown)
    return table
