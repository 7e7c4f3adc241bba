"""Names of namespaced pipeline copies, read from conf/base before any configuration is loaded."""

from __future__ import annotations

from pathlib import Path

import yaml


def base_parameter_keys(filename: str, key: str, conf_root: Path | None = None) -> list[str]:
    """The keys of the mapping at ``key`` (dotted: ``studies.lambda.runs``) in ``conf/base/<filename>``:
    pipelines are registered before Kedro loads configuration, so the names come from the base
    file; their values come from whichever env and ``--params`` the run uses."""
    return list(base_parameter(filename, key, {}, conf_root))


def base_parameter(filename: str, key: str, default, conf_root: Path | None = None):
    """The value at ``key`` (dotted) in ``conf/base/<filename>``, or ``default`` where it is absent."""
    path = (conf_root or Path.cwd() / "conf") / "base" / filename
    value = yaml.safe_load(path.read_text()) if path.exists() else None
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value
