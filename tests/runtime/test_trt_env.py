"""TensorRT plans: refused cleanly where TensorRT or the matching GPU is missing."""

from __future__ import annotations

import json

import pytest

from edgekd.errors import ModelError
from edgekd.runtime import TensorRTUnavailable, open_backend, tensorrt_missing
from edgekd.runtime.trt_env import SIDECAR_SCHEMA, device_index, read_sidecar, sidecar_mismatch, sidecar_path


def _sidecar(card: dict) -> dict:
    return {
        "schema": SIDECAR_SCHEMA,
        "engine": "m.engine",
        "precision": "fp16",
        "input_format": "nchw_float32",
        "build": {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"},
        "card": card,
    }


def test_sidecar_sits_next_to_the_plan(tmp_path):
    assert sidecar_path(tmp_path / "student.fp16.engine") == tmp_path / "student.fp16.engine.json"


def test_damaged_or_foreign_sidecars_are_refused(tmp_path):
    plan = tmp_path / "m.engine"
    plan.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="no sidecar"):
        read_sidecar(plan)
    sidecar_path(plan).write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_sidecar(plan)
    sidecar_path(plan).write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(ModelError, match="not an edgekd TensorRT sidecar"):
        read_sidecar(plan)


def test_mismatch_names_what_differs():
    built = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}
    assert sidecar_mismatch(built, dict(built)) is None
    assert sidecar_mismatch(built, built | {"tensorrt": "10.3.1"}) == "TensorRT 10.3.0 vs 10.3.1 here"
    assert "GPU Orin (sm 8.7) vs NVIDIA L4 (sm 8.9) here" in sidecar_mismatch(
        built, built | {"gpu": "NVIDIA L4", "compute_capability": "8.9"}
    )


def test_device_index():
    assert device_index("cuda") == 0 and device_index("cuda:1") == 1
    with pytest.raises(ModelError, match="CUDA device"):
        device_index("cpu")


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT is present here")
def test_a_plan_cannot_run_without_tensorrt(artefacts, tmp_path):
    from edgekd.models import read_card

    plan = tmp_path / "m.engine"
    plan.write_bytes(b"\x00" * 64)
    sidecar_path(plan).write_text(json.dumps(_sidecar(read_card(artefacts["torch"]).to_dict())))
    with pytest.raises(TensorRTUnavailable, match="needs TensorRT and a CUDA GPU, but .* here.*Dockerfile.jetson"):
        open_backend(plan)
