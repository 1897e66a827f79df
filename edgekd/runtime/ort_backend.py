"""ONNX Runtime backend for `.onnx` artefacts written by `edgekd export`.

The model card travels inside the ONNX file (metadata key `edgekd`), so an ONNX shipped alone
to a target still knows its classes and preprocessing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgekd.errors import ModelError
from edgekd.models import ModelCard
from edgekd.runtime.base import INPUT_NCHW_FLOAT, Backend

ONNX_METADATA_KEY = "edgekd"


def session_options(threads: int | None) -> Any:  # an ort.SessionOptions (onnxruntime ships no types)
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


NO_METADATA = (
    "has no edgekd metadata (key 'edgekd'); export it with 'edgekd export CHECKPOINT' (or pass its checkpoint)."
)


def _parse_metadata(raw: str | None, where: str) -> dict[str, Any]:
    if raw is None:
        raise ModelError(f"{where} {NO_METADATA}")
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where} carries damaged edgekd metadata ({exc}).") from exc
    if not isinstance(payload, dict) or "card" not in payload:
        raise ModelError(f"{where} carries edgekd metadata without a model card.")
    return payload


def read_onnx_metadata(session: Any) -> dict[str, Any]:
    """The `edgekd` metadata of an open ONNX Runtime session (card, input format, precision, export facts)."""
    return _parse_metadata(session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY), "this ONNX model")


def read_onnx_file_metadata(path: str | Path) -> dict[str, Any]:
    """The `edgekd` metadata of an ONNX file, read without creating a session."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ONNX model not found: {path}.")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends for truncated or foreign files
        raise ModelError(f"{path} is not a readable ONNX model ({type(exc).__name__}); it may be truncated.") from exc
    raw = next((prop.value for prop in model.metadata_props if prop.key == ONNX_METADATA_KEY), None)
    return _parse_metadata(raw, path.name)


class OrtBackend(Backend):
    """An edgekd `.onnx` in an ONNX Runtime session (CPU, or CUDA with onnxruntime-gpu).

    `metadata` holds everything the file's `edgekd` entry records (card, precision, export facts).
    """

    name = "ort"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"ONNX model not found: {path}.")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ModelError(
                    "ONNX Runtime here has no CUDA provider; install onnxruntime-gpu instead of onnxruntime (see "
                    "README), or use --device cpu."
                )
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), session_options(threads), providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types for damaged files
            raise ModelError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0]}") from exc
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
