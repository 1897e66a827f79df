"""Real trained artefacts (teacher, student, ONNX, INT8 ONNX), built once per test session."""

from __future__ import annotations

import pytest
from trained_artefacts import Artefacts, build_artefacts


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory) -> Artefacts:
    return build_artefacts(tmp_path_factory.getbasetemp() / "edgekd-artefacts")
