"""What eval.json, profile.json and report.json record about the artefact they measured.

One function builds that block, so the three files describe an artefact identically and the
report can join them on the artefact's sha256, whichever directory each file ended up in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.artifacts import sha256_file
from edgekd.errors import ModelError
from edgekd.models import resolve_model_path
from edgekd.runtime import Backend, artefact_format
from edgekd.schemas import EVAL_SCHEMA, PROFILE_SCHEMA

__all__ = [
    "EVAL_SCHEMA",
    "PROFILE_SCHEMA",
    "BACKEND_NAMES",
    "artefact_record",
    "check_backend_name",
    "open_artefact",
    "resolve_artefact",
]
BACKEND_NAMES = ("torch", "ort", "trt")


def resolve_artefact(path: str | Path) -> Path:
    """The artefact file behind `path` (a run directory resolves to its student/teacher weights).

    Raises:
        ModelError: the path does not exist or is of an unknown type.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"artefact not found: {path}.")
    if path.is_dir():
        path = resolve_model_path(path)
    artefact_format(path)  # refuses unknown suffixes with a one-line message
    return path


def check_backend_name(backend: str | None) -> None:
    """Refuse a backend name that no artefact could use."""
    if backend is not None and backend not in BACKEND_NAMES:
        raise ModelError(
            f"unknown backend '{backend}': use one of {', '.join(BACKEND_NAMES)} (or leave it out for the "
            "artefact's own)."
        )


def artefact_record(path: Path, backend: Backend) -> dict[str, Any]:
    """The artefact block shared by eval.json and profile.json.

    Args:
        path: the artefact file (already resolved).
        backend: the opened backend (gives the card, precision and input format).

    Returns:
        name, path (absolute), format (torch|onnx|tensorrt), sha256, size_bytes, role, arch,
        num_classes, class_names, input (size/channels/mean/std), precision, input_format,
        dataset_fingerprint (of the data it was trained on) and, for exported files, the
        export metadata the artefact carries (without the card).
    """
    card = backend.card
    exported = getattr(backend, "metadata", None)
    return {
        "name": path.name,
        "path": str(path.resolve()),
        "format": artefact_format(path),
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "role": card.role,
        "arch": card.arch,
        "num_classes": card.num_classes,
        "class_names": list(card.class_names),
        "input": card.input.to_dict(),
        "precision": backend.precision,
        "input_format": backend.input_format,
        "dataset_fingerprint": (card.dataset or {}).get("fingerprint"),
        "export": {k: v for k, v in exported.items() if k != "card"} if isinstance(exported, dict) else None,
    }


def open_artefact(path: Path, backend: str | None = None, device: str = "cpu", threads: int | None = None) -> Backend:
    """`edgekd.runtime.open_backend`, with a one-line error where TensorRT cannot run at all.

    Args:
        backend: torch | ort | trt, or None for the artefact's own.
        device: cpu | cuda | cuda:N.
        threads: intra-op threads (ONNX Runtime; PyTorch uses the process setting).
    """
    from edgekd.runtime import open_backend

    check_backend_name(backend)
    try:
        return open_backend(path, backend, device, threads)
    except ImportError as exc:
        if artefact_format(path) != "tensorrt":
            raise
        raise ModelError(
            f"cannot run the TensorRT plan {path.name} here ({exc.name or exc} is not installed): TensorRT plans "
            "run only on "
            "the GPU and TensorRT version they were built with. Profile it on the target (see Dockerfile.jetson), "
            "or evaluate the ONNX it was built from."
        ) from exc
