"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from tfnas_kedro.hooks import ProgressHooks, SeedHooks

HOOKS = (SeedHooks(), ProgressHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # soft merging: `--params "search.target_latency_ms=12"` or an env's partial override of a
    # nested dict keeps the sibling keys instead of replacing the whole dict
    "merge_strategy": {"parameters": "soft"},
}
