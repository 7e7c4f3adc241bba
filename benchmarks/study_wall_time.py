"""The wall time a pipeline would take on N workers of the Dask runner, worked out from its node
times measured in a sequential run (the ``[i/n] node: done in X s`` lines of ``info.log``).

Each worker runs one node at a time; a node starts once its inputs exist, the earliest ready node
first, in the pipeline's order (as ``tfnas_kedro.dask_runner`` submits them). It ignores what a
worker costs to start and what moving inputs costs: the study's nodes take minutes, its inputs
megabytes. Node times from one machine stand for one worker's; on GPUs scale them all alike.

    python benchmarks/study_wall_time.py --log info.log --pipeline study_search_quality --workers 1 2 4 8 16

``--seconds NODE=S`` replaces a node's measured time (one that ran while the machine was paused or
shared, say).
"""

from __future__ import annotations

import argparse
import heapq
import re
from pathlib import Path

DONE = re.compile(r"\[(\d+)/(\d+)\] (\S+): done in ([\d.]+) s")


def node_times(log: Path, total: int | None = None) -> dict[str, float]:
    """Node seconds from the last run in ``log`` that has ``total`` nodes (the last run, if None)."""
    runs: list[dict[str, float]] = []
    for line in log.read_text().splitlines():
        match = DONE.search(line)
        if not match:
            continue
        done, nodes, name, seconds = int(match[1]), int(match[2]), match[3], float(match[4])
        if done == 1 or not runs:
            runs.append({"__nodes__": nodes})
        runs[-1][name] = seconds
    runs = [r for r in runs if total is None or r["__nodes__"] == total]
    if not runs:
        raise SystemExit(f"no run{'' if total is None else f' of {total} nodes'} in {log}")
    times = runs[-1]
    times.pop("__nodes__")
    return times


def wall_time(pipeline, seconds: dict[str, float], workers: int) -> float:
    """List scheduling of ``pipeline``'s nodes on ``workers``, earliest ready node first."""
    order = {node: i for i, node in enumerate(pipeline.nodes)}
    dependencies = pipeline.node_dependencies
    finished_at: dict = {}
    free = [0.0] * workers  # when each worker is next free
    waiting = set(pipeline.nodes)
    while waiting:
        ready = [n for n in waiting if dependencies[n] <= finished_at.keys()]
        node = min(ready, key=lambda n: (max((finished_at[d] for d in dependencies[n]), default=0.0), order[n]))
        start = max(heapq.heappop(free), max((finished_at[d] for d in dependencies[node]), default=0.0))
        finished_at[node] = start + seconds.get(node.name, 0.0)
        heapq.heappush(free, finished_at[node])
        waiting.remove(node)
    return max(finished_at.values(), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, default=Path("info.log"))
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--pipeline", default="study_search_quality")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--seconds", nargs="*", default=[], metavar="NODE=S", help="a node's time instead of the log's")
    args = parser.parse_args()

    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    from tfnas_kedro.session import ProjectSession

    bootstrap_project(args.project)
    with ProjectSession.create(project_path=args.project):  # registers the pipelines from the run's parameters
        pipeline = pipelines[args.pipeline]
    seconds = node_times(args.log, len(pipeline.nodes))
    for item in args.seconds:
        name, value = item.rsplit("=", 1)
        if name not in seconds:
            raise SystemExit(f"--seconds: no node {name!r} in {args.log}")
        seconds[name] = float(value)
    missing = [n.name for n in pipeline.nodes if n.name not in seconds]
    if missing:
        raise SystemExit(f"{len(missing)} nodes have no time in {args.log}, e.g. {missing[:3]}")
    sequential = sum(seconds[n.name] for n in pipeline.nodes)
    print(f"{args.pipeline}: {len(pipeline.nodes)} nodes, {sequential / 60:.1f} min one after another")
    for n in args.workers:
        wall = wall_time(pipeline, seconds, n)
        print(f"  {n:3d} workers: {wall / 60:6.1f} min ({sequential / wall:.2f} x faster)")


if __name__ == "__main__":
    main()
