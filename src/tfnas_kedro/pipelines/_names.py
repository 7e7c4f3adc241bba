"""Names of namespaced pipeline copies, read from conf/base before any configuration is loaded."""

from __future__ import annotations

from pathlib import Path

import yaml


def base_parameter_keys(filename: str, key: str, conf_root: Path | None = None) -> list[str]:
    """The keys of the mapping at ``key`` (dotted: ``studies.lambda.runs``) in ``conf/base/<filename>``:
    pipelines are registered before Kedro loads configuration, so the names come from the base
    file; their values come from whichever env and ``--params`` the run uses."""
    path = (conf_root or Path.cwd() / "conf") / "base" / filename
    if not path.exists():
        return []
    value = yaml.safe_load(path.read_text()) or {}
    for part in key.split("."):
        value = value.get(part) or {}
    return list(value)
