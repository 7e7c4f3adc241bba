"""Project hooks: parameters checked before any node runs, every namespaced copy a run's parameters
name present in the pipeline it runs, reproducible seeding, per-node progress with durations, the
CPU allocator."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from kedro.framework.hooks import hook_impl

from tfnas_kedro.nas.allocator import keep_freed_memory
from tfnas_kedro.nas.seeding import seed_everything

logger = logging.getLogger(__name__)


def node_seed(seed: int, node_name: str) -> int:
    """A seed per node derived from the run's seed and the node's name (stable across processes),
    so a node draws the same numbers whether it runs in the full pipeline or on its own."""
    digest = hashlib.sha256(f"{seed}:{node_name}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class ConfigurationHooks:
    """When a context is made (``kedro run``, ``kedro ipython``, a notebook's session, a packaged
    project with ``--conf-source``): check every parameter of the run, so a misspelt key stops the
    run before its first node."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from tfnas_kedro.parameter_check import check_parameters  # imports every group's model (torch)

        check_parameters(context.config_loader["parameters"])  # --params merged in


class MissingCopies(RuntimeError):
    """A run's parameters name a latency target, study run or transfer set its pipeline has no copy for."""


class CopiesHooks:
    """Before the first node: the pipelines a run found have a namespaced copy for every latency
    target, study run and transfer set that its parameters name (every env and ``--params``).
    ``session.ProjectSession`` registers them from those parameters; a plain ``KedroSession``
    leaves Kedro's own registration, from the project's default env, and a name added elsewhere
    stops the run here instead of being skipped without a word."""

    @hook_impl(tryfirst=True)  # before tracking starts a run
    def before_pipeline_run(self, run_params: dict[str, Any], catalog) -> None:
        from kedro.framework.project import pipelines

        from tfnas_kedro.pipeline_registry import missing_copies

        names = run_params.get("pipeline_names") or ["__default__"]
        missing = missing_copies(catalog.load("parameters"), pipelines, names)
        if missing:
            lacking = "; ".join(f"pipeline {name}: {', '.join(spaces)}" for name, spaces in missing.items())
            raise MissingCopies(
                f"this run's parameters name copies its pipelines were registered without ({lacking}), so "
                "nothing would run them. Create the session with the project's session class "
                "(settings.SESSION_CLASS, tfnas_kedro.session.ProjectSession, as `kedro run` does), which "
                "registers the pipelines from the run's own env and --params, or add the names to "
                "conf/base/parameters_*.yml"
            )


class SeedHooks:
    """Seeds Python, NumPy and torch before every node from the ``seed`` parameter."""

    def __init__(self) -> None:
        self.seed = 0

    @hook_impl
    def after_catalog_created(self, parameters: dict[str, Any]) -> None:
        self.seed = int(parameters.get("seed", 0))

    @hook_impl
    def before_node_run(self, node) -> None:
        seed_everything(node_seed(self.seed, node.name))


class ProgressHooks:
    """Logs ``[i/n] node`` when each node starts and its duration when it ends."""

    def __init__(self) -> None:
        self._total = 0
        self._done = 0
        self._started: dict[str, float] = {}
        self._run_started = 0.0

    @hook_impl
    def before_pipeline_run(self, pipeline) -> None:
        self._total, self._done = len(pipeline.nodes), 0
        self._run_started = time.perf_counter()

    @hook_impl
    def before_node_run(self, node) -> None:
        self._started[node.name] = time.perf_counter()
        logger.info("[%d/%d] %s: started", self._done + 1, self._total, node.name)

    @hook_impl
    def after_node_run(self, node) -> None:
        self._done += 1
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        logger.info("[%d/%d] %s: done in %.1f s", self._done, self._total, node.name, seconds)

    @hook_impl
    def on_node_error(self, error: Exception, node) -> None:
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        logger.error("%s failed after %.1f s: %s", node.name, seconds, error)

    @hook_impl
    def after_pipeline_run(self) -> None:
        logger.info("pipeline finished: %d nodes in %.1f s", self._done, time.perf_counter() - self._run_started)


class RuntimeHooks:
    """Before a run: let the process reuse the memory it frees (``nas.allocator.keep_freed_memory``)."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        if keep_freed_memory():
            logger.debug("freed memory is kept for reuse (glibc mallopt: no mmap, no trim)")
