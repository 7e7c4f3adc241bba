"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

import warnings

from tfnas_kedro.hooks import ProgressHooks, RuntimeHooks, SeedHooks

# Kedro's config loader registers its `globals` and `runtime_params` resolvers with an OmegaConf
# call that OmegaConf 2.4 deprecates; nothing in this project can change that call, and the
# warning on every run would hide the project's own
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)

HOOKS = (SeedHooks(), ProgressHooks(), RuntimeHooks())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # soft merging: `--params "search.target_latency_ms=12"` or an env's partial override of a
    # nested dict keeps the sibling keys instead of replacing the whole dict
    "merge_strategy": {"parameters": "soft"},
}
