"""The FP32/FP16 ONNX artefacts: interface, dynamic batch, metadata, parity, baked preprocessing."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgekd.artifacts import sha256_file
from edgekd.data import DataConfig, to_unit_float
from edgekd.export import ExportConfig, export
from edgekd.models import load_model
from edgekd.runtime import INPUT_NHWC_UINT8, open_backend


def _metadata(path) -> dict:
    model = onnx.load(str(path))
    return json.loads({p.key: p.value for p in model.metadata_props}["edgekd"])


def test_fp32_onnx_has_the_interface_and_metadata(full_export, student):
    record = full_export.get("fp32")
    assert record.path.name == "student.onnx" and record.parity.passed
    model = onnx.load(str(record.path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["logits"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    meta = _metadata(record.path)
    assert meta["precision"] == "fp32" and meta["input_format"] == "nchw_float32"
    assert meta["exporter"] == "dynamo" and meta["opset"] == 18 and meta["simplified"] is True
    assert meta["source"]["sha256"] == sha256_file(student) and meta["edgekd_version"]
    card = meta["card"]
    assert card["role"] == "student" and card["class_names"] == [str(i) for i in range(10)]
    assert card["input"]["input_size"] == [3, 16, 16] and len(card["input"]["mean"]) == 3
    assert (
        meta["parity"]["passed"]
        and meta["parity"]["gated_agreement"] >= 99.9
        and meta["parity"]["max_abs_diff"] <= 1e-3
    )
    assert meta["provenance"]["versions"]["onnx"] == onnx.__version__


def test_fp32_onnx_runs_any_batch_and_matches_pytorch(full_export, student):
    model, card = load_model(student)
    session = ort.InferenceSession(str(full_export.get("fp32").path), providers=["CPUExecutionProvider"])
    for batch in (1, 3, 33):
        x = torch.randn(batch, 3, 16, 16)
        (logits,) = session.run(["logits"], {"input": x.numpy()})
        with torch.no_grad():
            assert np.abs(logits - model(x).numpy()).max() < 1e-3


def test_fp16_onnx_passes_its_gate_under_onnx_runtime(full_export):
    record = full_export.get("fp16")
    assert record.path.name == "student.fp16.onnx" and record.parity.passed
    assert record.parity.gated_agreement >= 99.5 and record.parity.gate.max_abs_diff is None
    model = onnx.load(str(record.path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O kept
    weights = [t for t in model.graph.initializer if len(t.dims) == 4]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
    assert _metadata(record.path)["precision"] == "fp16"
    assert open_backend(record.path).precision == "fp16"


def test_export_json_lists_every_artefact(full_export):
    summary = json.loads(full_export.summary_path.read_text())
    names = [a["name"] for a in summary["artefacts"]]
    assert names == [
        "student.onnx",
        "student.fp16.onnx",
        "student.int8-cpu.onnx",
        "student.int8-tensorrt.onnx",
        "student.int8-fp16.onnx",
    ]
    assert summary["source"]["kind"] == "checkpoint" and summary["provenance"]["config"]["int8"] is True
    assert not [p for p in full_export.out_dir.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


def test_baked_preprocessing_takes_uint8_frames(student, tmp_path):
    result = export(ExportConfig(student, tmp_path, bake_preprocess=True, exporter="torchscript", opset=17))
    record = result.get("fp32")
    assert record.parity.passed and record.path.name == "student.onnx"
    session = ort.InferenceSession(str(record.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)" and session.get_inputs()[0].shape[1:] == [16, 16, 3]
    backend = open_backend(record.path)
    assert backend.input_format == INPUT_NHWC_UINT8 and _metadata(record.path)["exporter"] == "torchscript"
    # Frames from the backend's own prepare() classify like PyTorch on the same pixels.
    dataset = DataConfig("digits").load(16)
    pixels = to_unit_float(dataset.val.images[:64], (16, 16))
    frames = backend.prepare(pixels)
    assert frames.dtype == torch.uint8 and frames.shape == (64, 16, 16, 3)
    torch_backend = open_backend(student)
    reference = torch_backend.run(torch_backend.prepare(frames.permute(0, 3, 1, 2).float() / 255.0))
    assert (backend.run(frames) - reference).abs().max() < 1e-3


def test_dynamo_opset_below_18_is_refused(student, tmp_path):
    from edgekd.errors import ConfigError

    with pytest.raises(ConfigError, match="--opset 17"):
        export(ExportConfig(student, tmp_path, opset=17))
    assert not any(tmp_path.iterdir())
