"""How the timing harness calls a module: eager PyTorch; the module exported to ONNX and run by
an onnxruntime session, as a deployed CPU model runs (graph optimisations on: convolution and
BatchNorm fused, activations and the SE gate folded in); or the module lowered to an ExecuTorch
program delegated to XNNPACK, as a phone runs it (:mod:`.executorch_programs`).

The harness (``profiler.Profiler``) does not know which: it calls ``module(x)``. For onnxruntime
each module is exported once and wrapped in a callable that runs the session on a copy of the
harness's input, so the same rounds, reference normalisation and statistic apply to all.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

Runtime = Literal["torch", "onnxruntime", "executorch"]
ONNX_OPSET = 17
PROVIDER = "CPUExecutionProvider"

# The channel multiple each runtime's fast kernels want, as `benchmarks/channel_alignment.py`
# measured it on this project's AVX-512 CPU: in onnxruntime widths on multiples of 4 ran 30-55%
# below a line through all widths and the others 11-20% above it; in eager PyTorch (oneDNN's
# blocked layouts) multiples of 16 ran 1-14% below it; in ExecuTorch's XNNPACK multiples of 16 ran
# 3-9% below it and multiples of 8 (not 16) 1-3%. A table prices widths on and off the block
# apart (`latency.channel_block`); on another CPU the script finds the block to set instead.
CHANNEL_BLOCK: dict[str, int] = {"torch": 16, "onnxruntime": 4, "executorch": 16}


def default_channel_block(runtime: Runtime) -> int:
    """The channel block a table timed in ``runtime`` uses when none is set."""
    return CHANNEL_BLOCK[runtime]


# How many channels apart a table measures a block's widths when `latency.width_step` is unset. In
# ExecuTorch each width is a program to lower (1-2 s here, against 0.03 s for ONNX), and a grid 64
# apart priced the widths between as well as one 8 or 32 apart (benchmarks/width_grid.py, 235
# widths at 224 px: median |error| 1.9-2.3% against 1.9-2.6%, within the timings' own noise).
WIDTH_STEP: dict[str, int] = {"torch": 32, "onnxruntime": 32, "executorch": 64}


def default_width_step(runtime: Runtime) -> int:
    """The width step a table timed in ``runtime`` uses when none is set."""
    return WIDTH_STEP[runtime]


def session_options(threads: int):
    """What a deployment would set: ``threads`` intra-op threads, one inter-op, every graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def runtime_info(runtime: Runtime, threads: int) -> dict:
    """The runtime a table was timed in, stored in its metadata and compared by the search."""
    if runtime == "torch":
        return {"name": "torch", "version": torch.__version__, "mode": "eager", "threads": threads}
    if runtime == "executorch":
        from .executorch_programs import BACKEND, executorch_version

        return {"name": "executorch", "version": executorch_version(), "backend": BACKEND, "threads": threads}
    import onnxruntime as ort

    return {
        "name": "onnxruntime",
        "version": ort.__version__,
        "provider": PROVIDER,
        "options": {"intra_op_threads": threads, "inter_op_threads": 1, "graph_optimization": "all"},
        "opset": ONNX_OPSET,
    }


def onnx_bytes(module: nn.Module, example: torch.Tensor) -> bytes:
    """``module`` as an ONNX graph for ``example``'s shape.

    The TorchScript-based exporter: it takes about 0.07 s for a block where the torch.export-based
    one takes 1.6 s (measured here), which over a table's hundreds of entries is a minute against
    twenty. It warns that it is deprecated; torch is pinned, and the warning is silenced here only.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(), (example,), buffer, dynamo=False, opset_version=ONNX_OPSET, input_names=["x"],
            output_names=["y"], do_constant_folding=True,
        )  # fmt: skip
    return buffer.getvalue()


class OnnxRuntimeCall:
    """``module`` exported and run in an onnxruntime session; called like the module on the
    harness's input (which it holds as a NumPy copy: no conversion is timed)."""

    def __init__(self, module: nn.Module, example: torch.Tensor, threads: int):
        import onnxruntime as ort

        self.session = ort.InferenceSession(onnx_bytes(module, example), session_options(threads), providers=[PROVIDER])
        self._feed = {"x": example.detach().cpu().numpy()}

    def __call__(self, x: torch.Tensor) -> object:
        return self.session.run(None, self._feed)


def runtime_callables(
    runtime: Runtime,
    modules: list[nn.Module],
    inputs: list[torch.Tensor],
    threads: int,
    program_cache: str | None = None,
) -> list[Callable[[torch.Tensor], object]]:
    """What the harness calls for each module in ``runtime`` (ExecuTorch programs come from
    ``program_cache``, lowered now where it lacks them)."""
    if runtime == "torch":
        return list(modules)
    if runtime == "executorch":
        from .executorch_programs import ExecuTorchCall, ProgramCache

        paths = ProgramCache(program_cache).programs(modules, [tuple(x.shape) for x in inputs])
        return [ExecuTorchCall(path, x, threads) for path, x in zip(paths, inputs, strict=True)]
    return [OnnxRuntimeCall(module, x, threads) for module, x in zip(modules, inputs, strict=True)]
