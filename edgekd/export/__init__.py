"""Export stage: ONNX with a parity gate, FP16, INT8 from calibration specs, TensorRT engines.

Python API first (the CLI's `edgekd export` is a thin layer over it)::

    from edgekd.export import ExportConfig, run
    result = run(ExportConfig(Path("runs/distill/student.safetensors"), Path("runs/export"), int8=True,
                                 calib=Path("calibration/fmnist-val-512.yaml")))
    print(result.get("int8", target="cpu").int8.verdict)
"""

from edgekd.export.config import CALIB_METHODS, EXPORTERS, INT8_TARGETS, ExportConfig
from edgekd.export.records import ArtefactRecord
from edgekd.export.stage import ExportResult, export, run

__all__ = [
    "CALIB_METHODS",
    "EXPORTERS",
    "INT8_TARGETS",
    "ArtefactRecord",
    "ExportConfig",
    "ExportResult",
    "export",
    "run",
]
