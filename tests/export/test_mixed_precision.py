"""INT8 + FP16: the TensorRT-recipe QDQ model with FP16 in its other layers, run through ONNX Runtime."""

from __future__ import annotations

import onnx

from edgekd.export.mixed_precision import FLOAT16, int8_with_fp16, precision_counts
from edgekd.runtime import open_backend


def test_int8_fp16_is_written_for_the_tensorrt_target(full_export):
    mixed = next(a for a in full_export.artefacts if a.path.name == "student.int8-fp16.onnx")
    assert mixed.kind == "onnx" and mixed.precision == "int8" and mixed.target == "tensorrt"
    facts = mixed.details["mixed_precision"]
    fp32_rest, fp16_rest = facts["int8_fp32_rest"], facts["int8_fp16_rest"]
    # The same Q/DQ nodes; every other compute node now FP16.
    assert (fp16_rest["quantize_linear"], fp16_rest["dequantize_linear"]) == (
        fp32_rest["quantize_linear"],
        fp32_rest["dequantize_linear"],
    )
    assert fp32_rest["fp16_ops"] == 0 and fp32_rest["fp32_ops"] > 0
    assert fp16_rest["fp32_ops"] == 0 and fp16_rest["fp16_ops"] == fp32_rest["fp32_ops"]
    # Activation Q/DQ work in FP16; only the weights' DQ stay FP32 (one Cast each, plus the float32 I/O).
    weight_dq = fp16_rest["dequantize_linear"] - fp16_rest["quantize_linear"]
    assert fp16_rest["fp16_qdq"] == 2 * fp16_rest["quantize_linear"] and fp16_rest["casts"] == weight_dq + 2
    assert set(facts["top1_vs_int8_fp32_rest"]) == {"val", "test"} and mixed.int8.accuracy["val"]["samples"] > 0


def test_int8_fp16_runs_in_onnx_runtime_with_float32_io(full_export):
    path = full_export.get("int8", target="tensorrt").path.with_name("student.int8-fp16.onnx")
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 19  # FP16 Q/DQ scales
    backend = open_backend(path)
    import torch

    logits = backend.run(backend.prepare(torch.rand(4, 3, 16, 16)))
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()


def test_conversion_leaves_its_input_alone(full_export):
    source = onnx.load(str(full_export.get("int8", target="tensorrt").path))
    before = source.SerializeToString()
    half, counts = int8_with_fp16(source)
    assert source.SerializeToString() == before
    assert counts == precision_counts(half) and counts.fp16_ops > 0
    assert any(t.data_type == FLOAT16 for t in half.graph.initializer)
