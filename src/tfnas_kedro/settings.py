"""Project settings (https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from tfnas_kedro.hooks import ConfigurationHooks, CopiesHooks, ProgressHooks, RuntimeHooks, SeedHooks
from tfnas_kedro.session import ProjectSession
from tfnas_kedro.tracking import TrackingHooks

HOOKS = (ConfigurationHooks(), CopiesHooks(), SeedHooks(), ProgressHooks(), RuntimeHooks(), TrackingHooks())

# registers a run's pipelines from its own configuration (env, --conf-source, --params): one
# namespaced search per latency target and study run named there
SESSION_CLASS = ProjectSession

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # soft merging: `--params "search.epochs=30"` or an env's partial override of a nested dict
    # keeps the sibling keys instead of replacing the whole dict
    "merge_strategy": {"parameters": "soft"},
    # experiment tracking settings (tfnas_kedro.tracking): conf/<env>/tracking.yml
    "config_patterns": {"tracking": ["tracking*", "tracking*/**"]},
}
