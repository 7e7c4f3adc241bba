"""Export of a trained network: to ONNX, checked by ONNX's checker and by onnxruntime against
PyTorch; and to the ExecuTorch program a phone runs, checked by ExecuTorch's runtime against PyTorch."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn


def export_onnx(network: nn.Module, resolution: int, in_channels: int = 3, opset: int = 18) -> tuple[bytes, dict]:
    """The network as ONNX bytes (dynamic batch size) and a check report: the checker's verdict and
    the largest absolute difference between onnxruntime's and PyTorch's logits on random inputs."""
    import onnx

    network = network.eval().cpu()
    example = torch.randn(2, in_channels, resolution, resolution)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        torch.onnx.export(
            network,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}},
            opset_version=opset,
            dynamo=True,
            external_data=False,
        )
        data = path.read_bytes()
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    report = {"opset": opset, "checker": "passed", "bytes": len(data)}
    try:
        import onnxruntime as ort
    except ImportError:  # the checker alone still ran
        return data, report | {"onnxruntime": "not installed"}
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    inputs = torch.randn(3, in_channels, resolution, resolution)  # another batch size than exported with
    with torch.no_grad():
        expected = network(inputs).numpy()
    (got,) = session.run(["logits"], {"images": inputs.numpy()})
    report["onnxruntime_max_abs_diff"] = float(np.max(np.abs(got - expected)))
    report["onnxruntime_batch"] = int(inputs.shape[0])
    return data, report


def export_executorch(network: nn.Module, resolution: int, in_channels: int = 3, batch: int = 1) -> tuple[bytes, dict]:
    """The network as a ``.pte`` program lowered to XNNPACK for a batch of ``batch`` (a program's
    shapes are fixed; phones run batch 1), and a check report: the largest absolute difference
    between ExecuTorch's and PyTorch's logits on random inputs."""
    from tfnas_kedro.nas.executorch_programs import BACKEND, ExecuTorchCall, executorch_version, lower

    network = network.eval().cpu()
    data = lower(network, torch.randn(batch, in_channels, resolution, resolution))
    inputs = torch.randn(batch, in_channels, resolution, resolution)  # other values than lowered with
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pte"
        path.write_bytes(data)
        program = ExecuTorchCall(path, inputs, threads=1)
        program(inputs)
        (got,) = program.outputs()
    with torch.no_grad():
        expected = network(inputs)
    return data, {
        "executorch": executorch_version(),
        "backend": BACKEND,
        "bytes": len(data),
        "batch": batch,
        "max_abs_diff": float((got - expected).abs().max()),
    }
