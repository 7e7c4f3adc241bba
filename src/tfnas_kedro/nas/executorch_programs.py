"""Modules as ExecuTorch programs (``.pte``) lowered to XNNPACK, the CPU backend a phone runs, and
how the timing harness calls them.

Lowering is the cost: one block takes about 2-3 s on this CPU (``torch.export``, then
``to_edge_transform_and_lower`` with the XNNPACK partitioner), against 0.03-0.07 s for an ONNX
export. So every program is kept in a cache on disk, keyed by the module's structure (its
``repr``, parameter shapes and input shape: what the latency depends on, not the weights' values)
and by the ExecuTorch and torch versions; a rebuild or a resumed build lowers nothing twice, and
programs missing from the cache are lowered in worker processes, one per core.

Needs the ``executorch`` requirements (``requirements-executorch.txt``, installed by ``make install``).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import torch
from torch import nn

MISSING = (
    "runtime executorch needs ExecuTorch: pip install --no-deps -r requirements-executorch.txt "
    "(make install does), or choose runtime torch or onnxruntime"
)
BACKEND = "XnnpackBackend"

# a process pool costs about 7 s per worker before its first program (imports, a cold first
# lowering): below this many missing programs they are lowered here
POOL_FROM = 6


def _not_executorchs_enum_notice(record: logging.LogRecord) -> bool:
    """ExecuTorch registers an Enum with torch's pytree when imported, and torch logs a warning
    about it once per process (every lowering worker printed it): ExecuTorch's matter, not the user's."""
    return "is an Enum subclass" not in record.getMessage()


logging.getLogger("torch.utils._pytree").addFilter(_not_executorchs_enum_notice)


def executorch_version() -> str:
    try:
        from executorch import version
    except ImportError as err:
        raise RuntimeError(MISSING) from err
    return version.__version__


def default_cache_dir() -> Path:
    """Where programs are kept when no folder is given: the user's cache, shared by all projects."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "tfnas_kedro" / "executorch"


def structure_key(module: nn.Module, input_shape: Sequence[int]) -> str:
    """What a program's speed depends on: the module's structure, its parameters' shapes, the
    input shape (batch included) and the versions that lower and run it."""
    shapes = [(name, tuple(t.shape), str(t.dtype)) for name, t in module.state_dict().items()]
    text = repr((executorch_version(), torch.__version__, repr(module), shapes, tuple(input_shape)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def lower(module: nn.Module, example: torch.Tensor) -> bytes:
    """``module`` for ``example``'s shape as a ``.pte`` program, every operator XNNPACK supports
    delegated to it (as ExecuTorch's XNNPACK tutorial lowers a model)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # ExecuTorch's and export's notes on deprecated APIs, per program
        try:
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import to_edge_transform_and_lower
        except ImportError as err:
            raise RuntimeError(MISSING) from err
        exported = torch.export.export(module.eval(), (example,))
        program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    return program.buffer


def _one_thread() -> None:
    torch.set_num_threads(1)  # one lowering per worker, one worker per core


def _write(path: str, data: bytes) -> None:
    partial = f"{path}.{os.getpid()}.part"
    Path(partial).write_bytes(data)
    os.replace(partial, path)  # a build killed mid-write leaves no truncated program behind


def _lower_group(jobs: list[tuple[str, nn.Module, tuple[int, ...]]]) -> int:
    """Lower ``(path, module, input shape)`` jobs, together in one pass where they split cleanly
    (:mod:`.executorch_groups`), else one at a time; returns how many were lowered."""
    from .executorch_groups import lower_together

    examples = [torch.randn(*shape) for _, _, shape in jobs]
    programs = lower_together([m for _, m, _ in jobs], examples) if len(jobs) > 1 else None
    if programs is None:
        programs = [lower(module, x) for (_, module, _), x in zip(jobs, examples, strict=True)]
    for (path, _, _), data in zip(jobs, programs, strict=True):
        _write(path, data)
    return len(jobs)


def _weight(module: nn.Module) -> int:
    """About how many blocks a module holds (a block has 2-3 convolutions): groups are filled to
    :data:`GROUP_BLOCKS`, since a pass grows faster than linearly in a graph's size (16 blocks in
    one took 2.0 s each, 4-8 took 1.1-1.2 s)."""
    return max(1, sum(isinstance(m, nn.Conv2d) for m in module.modules()) // 3)


GROUP_BLOCKS = 8


class ProgramCache:
    """``.pte`` programs on disk by :func:`structure_key`."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def path(self, module: nn.Module, input_shape: Sequence[int]) -> Path:
        return self.folder / f"{structure_key(module, input_shape)}.pte"

    def programs(
        self, modules: Sequence[nn.Module], input_shapes: Sequence[tuple[int, ...]], workers: int | None = None
    ) -> list[Path]:
        """Each module's program for inputs of ``input_shapes`` (batch included), lowered now where
        the cache lacks it (:meth:`lower_missing`)."""
        pairs = list(zip(modules, input_shapes, strict=True))
        self.lower_missing(pairs, workers)
        return [self.path(m, s) for m, s in pairs]

    def lower_for(self, settings, modules: Sequence[nn.Module], input_shapes: Sequence[tuple[int, ...]]) -> None:
        """Lower, before a timing session, the programs a profiler with ``settings`` will load
        for ``modules`` (inputs without batch): done here, in worker processes, so that the
        session (often a fresh process of its own) only loads them."""
        shapes = [(settings.batch_size, *shape) for shape in input_shapes]
        self.lower_missing(zip(modules, shapes, strict=True))

    def lower_missing(
        self,
        pairs: Iterable[tuple[nn.Module, Sequence[int]]],
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Lower the ``(module, input shape)`` pairs the cache lacks, in groups of about
        :data:`GROUP_BLOCKS` blocks lowered in one pass, and return how many were lowered;
        ``progress(lowered)`` is told after each group. In ``workers`` processes (default: one per
        core when enough are missing to pay for them), taking ``pairs`` as it goes, so that a
        table's thousands of modules are built a few groups at a time rather than held at once."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if workers is None:
            pairs = list(pairs)
            missing = {self.path(m, s) for m, s in pairs if not self.path(m, s).exists()}
            workers = (os.cpu_count() or 1) if len(missing) >= POOL_FROM else 1
        lowered = 0

        def groups() -> Iterator[list[tuple[str, nn.Module, tuple[int, ...]]]]:
            seen: set[Path] = set()
            group, weight = [], 0
            for module, shape in pairs:
                path = self.path(module, shape)
                if path in seen or path.exists():  # identical modules lowered once
                    continue
                seen.add(path)
                group.append((str(path), module.cpu(), tuple(shape)))
                weight += _weight(module)
                if weight >= GROUP_BLOCKS:
                    yield group
                    group, weight = [], 0
            if group:
                yield group

        if workers <= 1:
            for group in groups():
                lowered += _lower_group(group)
                if progress:
                    progress(lowered)
            return lowered

        def collect(jobs: set[Future], return_when: str) -> set[Future]:
            nonlocal lowered
            ready, jobs = wait(jobs, return_when=return_when)
            for job in ready:
                lowered += job.result()  # a lowering that failed stops the build with its error
                if progress:
                    progress(lowered)
            return jobs

        with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), _one_thread) as pool:
            pending: set[Future] = set()
            for group in groups():
                pending.add(pool.submit(_lower_group, group))
                if len(pending) >= 2 * workers:  # a few queued per worker; the rest not yet built
                    pending = collect(pending, FIRST_COMPLETED)
            collect(pending, ALL_COMPLETED)
        return lowered


def _runtime():
    """ExecuTorch's runtime bindings (which warn on import that their Python API is experimental:
    the runtime itself is not, and the project pins its version)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from executorch.extension.pybindings import portable_lib
        except ImportError as err:
            raise RuntimeError(MISSING) from err
    return portable_lib


def set_threads(threads: int) -> None:
    """The threads XNNPACK's pool runs a program with (one pool per process)."""
    portable_lib = _runtime()
    if portable_lib._threadpool_get_thread_count() != threads:
        portable_lib._unsafe_reset_threadpool(threads)


class ExecuTorchCall:
    """A ``.pte`` program loaded into ExecuTorch's runtime; called like the module on the harness's
    input, which is set once (no conversion is timed)."""

    def __init__(self, program: Path, example: torch.Tensor, threads: int):
        set_threads(threads)
        self.program = _runtime()._load_program(str(program))
        self.method = self.program.load_method("forward")
        self.method.set_inputs([example.detach().cpu().contiguous()])

    def __call__(self, x: torch.Tensor) -> object:
        self.method.execute()
        return None

    def outputs(self) -> list[torch.Tensor]:
        return self.method.get_outputs()
