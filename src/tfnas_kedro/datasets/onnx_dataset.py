"""ONNX models in the catalog, as the bytes of the ``.onnx`` file."""

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
