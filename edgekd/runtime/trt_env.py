"""Is TensorRT usable here, on which GPU, and does an engine's sidecar match this machine?

A TensorRT plan only runs on the GPU model and TensorRT version it was built with (a foreign
plan fails with "magic tag"/"version tag" errors deep inside TensorRT). The export stage writes
a JSON sidecar next to every plan (`<plan>.json`) with those build facts; the runtime checks it
before deserialising, so a mismatch is one readable line instead of a TensorRT stack trace.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekd.errors import EdgekdError, ModelError

SIDECAR_SCHEMA = "edgekd.tensorrt/1"
BUILD_ON_TARGET = (
    "Build the engine on the target: ship the .onnx and run 'edgekd export MODEL.onnx --trt' there "
    "(the container from Dockerfile.jetson on a Jetson, or a CUDA machine with tensorrt>=10.3)."
)


class TensorRTUnavailable(EdgekdError):
    """TensorRT or a CUDA GPU is missing on this machine (exit code 2)."""


def tensorrt_missing() -> str | None:
    """Why TensorRT cannot run here, or None when the package and a CUDA GPU are both present."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt Python package is not installed"
    except OSError as exc:  # the wheel is there but libnvinfer is not (a stub package)
        return f"the tensorrt package cannot load its libraries ({str(exc).splitlines()[0]})"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    return None


def require_tensorrt(what: str = "--trt") -> Any:  # the tensorrt module (it ships no types)
    """Import and return the tensorrt module, or raise `TensorRTUnavailable` in one line."""
    missing = tensorrt_missing()
    if missing is not None:
        raise TensorRTUnavailable(f"{what} needs TensorRT and a CUDA GPU, but {missing} here. {BUILD_ON_TARGET}")
    import tensorrt

    return tensorrt


def tensorrt_major(trt_module: Any) -> int:
    """Major version of an imported tensorrt module (10 on JetPack 6, 11 on current servers)."""
    return int(str(trt_module.__version__).split(".")[0])


def device_index(device: str) -> int:
    """`cuda` → 0, `cuda:N` → N; anything else is refused (TensorRT runs on CUDA devices only)."""
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ModelError(f"TensorRT engines run on a CUDA device; got --device {device} (use cuda or cuda:N).")


def machine_facts(trt_module: Any, index: int = 0) -> dict[str, Any]:
    """The facts an engine is tied to: TensorRT version, GPU name, compute capability, CUDA."""
    import torch

    major, minor = torch.cuda.get_device_capability(index)
    return {
        "tensorrt": str(trt_module.__version__),
        "gpu": torch.cuda.get_device_name(index),
        "compute_capability": f"{major}.{minor}",
        "cuda": torch.version.cuda,
    }


def sidecar_path(engine_path: str | Path) -> Path:
    """`model.engine` → `model.engine.json` (a sibling name that cannot collide with a model card)."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """The build facts written next to a plan; a missing or damaged sidecar is one clear line."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ModelError(
            f"{Path(engine_path).name} has no sidecar {path.name}; edgekd runs only engines it built (it needs "
            f"the build facts and model card). {BUILD_ON_TARGET}"
        )
    try:
        payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}).") from exc
    if payload.get("schema") != SIDECAR_SCHEMA or "build" not in payload or "card" not in payload:
        raise ModelError(
            f"{path} is not an edgekd TensorRT sidecar (schema {payload.get('schema')!r}, expected {SIDECAR_SCHEMA})."
        )
    return payload


def sidecar_mismatch(built: dict[str, Any], here: dict[str, Any]) -> str | None:
    """What differs between the machine an engine was built on and this one (None: it can run).

    TensorRT refuses plans across versions (even patch releases can change the tag) and across
    GPU models, so the version string, the GPU name and the compute capability must all match.
    """
    differences = []
    if built.get("tensorrt") != here.get("tensorrt"):
        differences.append(f"TensorRT {built.get('tensorrt')} vs {here.get('tensorrt')} here")
    if built.get("gpu") != here.get("gpu") or built.get("compute_capability") != here.get("compute_capability"):
        differences.append(
            f"GPU {built.get('gpu')} (sm {built.get('compute_capability')}) vs {here.get('gpu')} (sm "
            f"{here.get('compute_capability')}) here"
        )
    return "; ".join(differences) or None
