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
    """Make ``registered`` Kedro's project pipelines (``kedro.framework.project.pipelines``), as
    if its lazy loading had returned them. Kedro 1.7 (pinned in pyproject.toml) has no public call
    for this: its loader takes no arguments, so it could only build the pipelines of a default
    configuration. A later change of requested pipelines reloads them lazily, as Kedro does."""
    with pipelines._lock:
        pipelines._content = dict(registered)
        pipelines._is_data_loaded = True


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
