"""ONNX Runtime backend for `.onnx` artefacts written by `edgekd export`.

The model card travels inside the ONNX file (metadata key `edgekd`), so an ONNX shipped alone
to a target still knows its classes and preprocessing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from edgekd.errors import ModelError
from edgekd.models import ModelCard
from edgekd.runtime.base import INPUT_NCHW_FLOAT, Backend

ONNX_METADATA_KEY = "edgekd"


def session_options(threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


def read_onnx_metadata(session) -> dict:
    raw = session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
    if raw is None:
        raise ModelError("this ONNX model has no edgekd metadata; export it with 'edgekd export' (or pass its checkpoint).")
    return json.loads(raw)


class OrtBackend(Backend):
    name = "ort"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model not found: {path}.")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError("ONNX Runtime here has no CUDA provider; install onnxruntime-gpu instead of onnxruntime (see README), or use --device cpu.")
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), session_options(threads), providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types for damaged files
            raise ModelError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0]}") from None
        metadata = read_onnx_metadata(self.session)
        super().__init__(
            ModelCard.from_dict(metadata["card"]),
            device=device,
            input_format=metadata.get("input_format", INPUT_NCHW_FLOAT),
            precision=metadata.get("precision", "fp32"),
        )
        self.metadata = metadata
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def run(self, inputs: torch.Tensor) -> torch.Tensor:
        array = inputs.numpy() if inputs.dtype == torch.uint8 else inputs.float().numpy()
        (logits,) = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(array)})
        return torch.from_numpy(np.asarray(logits, dtype=np.float32))
