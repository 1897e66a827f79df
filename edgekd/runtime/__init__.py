"""Inference backends behind one small interface: PyTorch, ONNX Runtime (and TensorRT)."""

from __future__ import annotations

from pathlib import Path

from edgekd.errors import ConfigError, ModelError
from edgekd.runtime.base import INPUT_NCHW_FLOAT, INPUT_NHWC_UINT8, Backend
from edgekd.runtime.timing import Latency, compare_latency
from edgekd.runtime.trt_env import TensorRTUnavailable, tensorrt_missing

BACKENDS_BY_SUFFIX = {".safetensors": ("torch",), ".onnx": ("ort",), ".engine": ("trt",), ".plan": ("trt",)}


def artefact_format(path: str | Path) -> str:
    """torch | onnx | tensorrt, from the file suffix (a directory holds a torch artefact)."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".safetensors":
        return "torch"
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix in (".engine", ".plan"):
        return "tensorrt"
    raise ModelError(f"unknown artefact type '{path.suffix}' ({path}): expected .safetensors, .onnx, .engine or .plan.")


def open_backend(
    path: str | Path, backend: str | None = None, device: str = "cpu", threads: int | None = None
) -> Backend:
    """Open an artefact with a backend that can run it.

    Args:
        backend: torch | ort | trt; None picks the artefact's natural one.
        device: cpu | cuda | cuda:N (a TensorRT plan always runs on CUDA: `cpu` means `cuda`).
        threads: intra-op threads for ONNX Runtime (None: its default).
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"artefact not found: {path}.")
    kind = artefact_format(path)
    natural = {"torch": "torch", "onnx": "ort", "tensorrt": "trt"}[kind]
    backend = backend or natural
    if backend != natural:
        raise ConfigError(f"backend '{backend}' cannot run a {kind} artefact ({path.name}); use --backend {natural}.")
    if backend == "torch":
        from edgekd.runtime.torch_backend import TorchBackend

        return TorchBackend(path, device)
    if backend == "ort":
        from edgekd.runtime.ort_backend import OrtBackend

        return OrtBackend(path, device, threads)
    from edgekd.runtime.trt_backend import TensorRTBackend

    return TensorRTBackend(path, "cuda" if device == "cpu" else device)


__all__ = [
    "INPUT_NCHW_FLOAT",
    "INPUT_NHWC_UINT8",
    "Backend",
    "Latency",
    "TensorRTUnavailable",
    "artefact_format",
    "compare_latency",
    "open_backend",
    "tensorrt_missing",
]
