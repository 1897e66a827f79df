"""`export --trt` checks every engine it builds against the PyTorch reference before it ships it.

The reference is the bundle's `reference.npz` beside the ONNX (on the device, which has no
dataset), else one made here from the val split (a CUDA server exporting from a checkpoint).
An engine that disagrees is not written (exit 1). Runs only where TensorRT runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.engine.progress import Progress
from edgekd.errors import CheckFailed
from edgekd.verify import REFERENCE_NAME, Reference, VerifyRow, check

if TYPE_CHECKING:
    from edgekd.export.stage import _Export


def engine_reference(run: "_Export", fp32_path: Path, onnx_paths: list[Path]) -> Reference | None:
    """The reference the engines are held to, or None when there is neither a bundle nor data."""
    beside = [p.parent / REFERENCE_NAME for p in onnx_paths if (p.parent / REFERENCE_NAME).is_file()]
    if beside:
        return Reference.load(beside[0])
    if run.val is None:
        return None
    from edgekd.export.bundle import make_reference

    return make_reference(run, fp32_path, onnx_paths)


def verify_engine(engine_path: Path, reference: Reference, device: str, progress: Progress) -> VerifyRow:
    """Run a freshly built plan on the reference inputs; raise `CheckFailed` if it disagrees."""
    from edgekd.runtime.trt_backend import TensorRTBackend

    row = check(TensorRTBackend(engine_path, device), engine_path.name, reference)
    progress.log(row.line())
    if not row.passed:
        raise CheckFailed(f"the engine disagrees with the PyTorch reference, so it was not written: {row.line()}")
    return row
