"""What the export stage wrote: one `ArtefactRecord` per file, with the checks it passed.

Below the stage and its helpers (the artefact builders, the device bundle, the engine check), so
each of them can describe a file it wrote without importing the stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekd.artifacts import sha256_file
from edgekd.export.int8_report import Int8Report
from edgekd.export.parity import ParityReport


@dataclass
class ArtefactRecord:
    """One file written by the export, with the checks it passed.

    Attributes:
        kind: onnx | tensorrt | deepstream.
        precision: fp32 | fp16 | int8.
        target: INT8 target (cpu | tensorrt), else None.
        parity: the gate it passed (FP32/FP16 ONNX).
        int8: INT8 figures and verdict.
        details: export facts (exporter, opset, quantization counts, TensorRT sidecar, …).
    """

    kind: str
    precision: str
    path: Path
    size_bytes: int
    sha256: str
    target: str | None = None
    parity: ParityReport | None = None
    int8: Int8Report | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "precision": self.precision,
            "target": self.target,
            "path": str(self.path),
            "name": self.path.name,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "parity": self.parity.to_dict() if self.parity else None,
            "int8": self.int8.to_dict() if self.int8 else None,
            "details": self.details,
        }


def record_file(kind: str, precision: str, path: Path, **extra: Any) -> ArtefactRecord:
    """The record of a file just written (its size and sha256 read back from disk)."""
    return ArtefactRecord(kind, precision, path, path.stat().st_size, sha256_file(path), **extra)
