"""Exported models in the catalog, as the bytes of their file: ONNX graphs and ExecuTorch programs."""

from __future__ import annotations

from typing import IO

from ._fsspec import FsspecVersionedDataset


class OnnxModelDataset(FsspecVersionedDataset):
    """Saves and loads a serialised ONNX model (``bytes``): pass the loaded value to
    ``onnx.load_from_string`` or straight to ``onnxruntime.InferenceSession``."""

    BINARY = True

    def _read(self, stream: IO) -> bytes:
        return stream.read()

    def _write(self, data: bytes, stream: IO) -> None:
        if not isinstance(data, bytes | bytearray):
            raise TypeError(f"OnnxModelDataset saves the model's bytes, got {type(data).__name__}")
        stream.write(data)


class ExecuTorchProgramDataset(OnnxModelDataset):
    """Saves and loads an ExecuTorch program (the bytes of a ``.pte`` file): write it to a file and
    load it with ExecuTorch's runtime, or push it to a phone."""
