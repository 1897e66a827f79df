"""Real students for the export tests: timm models trained on digits, exported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import DIGITS_SPEC, train_student

from edgekd.export import ExportConfig, export


@pytest.fixture(scope="session")
def student(tmp_path_factory) -> Path:
    """resnet10t trained 2 epochs on digits at 16 px: `student.safetensors` + `student.json`."""
    return train_student(tmp_path_factory.mktemp("student"), "resnet10t")


@pytest.fixture(scope="session")
def full_export(student, tmp_path_factory):
    """One export of the student with every ONNX artefact: FP32, FP16, INT8 for CPU and TensorRT."""
    out = tmp_path_factory.mktemp("export")
    config = ExportConfig(student, out, fp16=True, int8=True, calib=DIGITS_SPEC, int8_target=("cpu", "tensorrt"))
    return export(config)
