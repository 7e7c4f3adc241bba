"""The project's Kedro session (``settings.SESSION_CLASS``: ``kedro run``, ``kedro ipython``,
notebooks with ``%load_ext kedro.ipython``, a packaged project's ``python -m tfnas_kedro``).

A run's pipelines hold one namespaced copy per latency target, study run and transfer set named in
the parameters of that run, from any env (``--env``, ``conf/local``) or ``--params``: when it loads
its context the session registers the pipelines from the context's own configuration (its
``conf_source``, env and runtime parameters, passed explicitly), so ``kedro run --pipelines
search_targets --params latency_targets.t9.latency_ms=9`` searches t9 as well. While it runs, a
relative checkpoint folder is taken from the session's project.
"""

from __future__ import annotations

from typing import Any

from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.pipeline import Pipeline

from tfnas_kedro.project import running_in


def publish(registered: dict[str, Pipeline]) -> None:
    """Make ``registered`` Kedro's project pipelines (``kedro.framework.project.pipelines``) with
    Kedro 1.7's public calls only: ``configure(None)`` leaves Kedro no registry module to call, so
    it never registers a second set lazily from the default env (its loader takes no arguments);
    each pipeline is then set as in a dict. ``configure_project`` (``bootstrap_project``, a new
    session's project) configures the registry module again."""
    pipelines.configure(None)
    for name, registered_pipeline in registered.items():
        pipelines[name] = registered_pipeline


class ProjectSession(KedroSession):
    def load_context(self):
        from tfnas_kedro.pipeline_registry import register_pipelines

        context = super().load_context()
        # every env of the session and its --params merged, as the run's nodes will read them
        publish(register_pipelines(context.config_loader["parameters"]))
        return context

    def run(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with running_in(self._project_path):
            return super().run(*args, **kwargs)
