import numpy as np
import onnx
import onnxruntime as ort
import torch

from tfnas_kedro.nas import build_network
from tfnas_kedro.training import export_onnx

from .conftest import tiny_arch


def test_onnx_export_matches_pytorch_at_any_batch_size():
    torch.manual_seed(0)
    network = build_network(tiny_arch()).eval()
    data, report = export_onnx(network, resolution=16)
    assert report["checker"] == "passed" and report["onnxruntime_max_abs_diff"] < 1e-4
    onnx.checker.check_model(onnx.load_from_string(data))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = torch.randn(5, 3, 16, 16)
    (logits,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, network(x).numpy(), atol=1e-4)
    assert logits.shape == (5, 4)
