"""INT8: the two targets' QDQ recipes, exclusions, the sensitivity search and the honest verdict."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgekd.errors import ModelError
from edgekd.export import ExportConfig, export

from export_helpers import DIGITS_SPEC


def _graph(path):
    model = onnx.load(str(path))
    return model, {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}, {o: n for n in model.graph.node for o in n.output}


def _weight_dq(node, producers):
    """The DequantizeLinear feeding a node's weight input, or None when the weight is float."""
    producer = producers.get(node.input[1])
    return producer if producer is not None and producer.op_type == "DequantizeLinear" else None


def test_tensorrt_int8_is_symmetric_with_per_channel_weight_scales(full_export):
    record = full_export.get("int8", target="tensorrt")
    assert record.path.name == "student.int8-tensorrt.onnx"
    model, init, producers = _graph(record.path)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:  # explicit quantization for TensorRT: int8 everywhere, zero points all 0
        zero_point = init[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for conv in convs:
        dq = _weight_dq(conv, producers)
        assert dq is not None, f"{conv.name} weight not quantized"
        weight, scale = init[dq.input[0]], init[dq.input[1]]
        assert weight.dtype == np.int8 and scale.ndim == 1 and scale.shape[0] == weight.shape[0]
        assert next(a.i for a in dq.attribute if a.name == "axis") == 0
        if len(conv.input) > 2:  # TensorRT takes float biases
            assert conv.input[2] in init and init[conv.input[2]].dtype == np.float32
    meta = json.loads({p.key: p.value for p in model.metadata_props}["edgekd"])
    assert meta["precision"] == "int8" and meta["quantization"]["target"] == "tensorrt" and meta["quantization"]["types"] == "S8S8 symmetric"
    assert record.int8.recommend == "measure on target" and record.int8.latency is None


def test_cpu_int8_is_u8s8_per_channel(full_export):
    record = full_export.get("int8", target="cpu")
    model, init, producers = _graph(record.path)
    activations = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert activations and all(init[n.input[2]].dtype == np.uint8 for n in activations)
    in_float = set(record.details["quantization"]["weighted_in_float"])  # the speed search's choice
    for conv in (n for n in model.graph.node if n.op_type == "Conv" and n.name not in in_float):
        dq = _weight_dq(conv, producers)
        assert init[dq.input[0]].dtype == np.int8 and init[dq.input[1]].shape[0] == init[dq.input[0]].shape[0]


def test_int8_report_compares_with_fp32_and_never_calls_a_slower_model_a_win(full_export):
    report = full_export.get("int8", target="cpu").int8
    assert set(report.accuracy) == {"val", "test"}
    for split in report.accuracy.values():
        assert split["samples"] > 100 and 0 <= split["agreement"] <= 100
        assert split["drop"] == pytest.approx(split["fp32_top1"] - split["int8_top1"])
    assert set(report.latency) == {1, 32} and report.latency_device.startswith("cpu")
    speedups = [v["speedup"] for v in report.latency.values()]
    assert all(v["fp32_ms"] > 0 and v["int8_ms"] > 0 for v in report.latency.values())
    if report.recommend == "int8":
        assert min(speedups) > 1.0 and report.accuracy["val"]["drop"] <= report.budget
    else:
        assert "FP32" in report.verdict


def test_excluded_op_types_and_nodes_stay_in_float(student, full_export, tmp_path):
    weighted = full_export.get("int8", target="cpu").details["weighted_nodes"]
    first_conv = weighted[0]
    # Node names depend on the exporter: the same (dynamo) export as full_export's.
    config = ExportConfig(student, tmp_path, int8=True, calib=DIGITS_SPEC, exclude_nodes=(first_conv,), exclude_op_types=("Gemm",), speed_search=False, latency=False)
    result = export(config)
    record = result.get("int8", target="cpu")
    model, init, producers = _graph(record.path)
    nodes = {n.name: n for n in model.graph.node}
    assert _weight_dq(nodes[first_conv], producers) is None and init[nodes[first_conv].input[1]].dtype == np.float32
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    assert gemms and all(_weight_dq(g, producers) is None for g in gemms)
    facts = record.details["quantization"]
    assert first_conv in facts["weighted_in_float"] and facts["weighted_quantized"] == facts["weighted_nodes"] - len(facts["weighted_in_float"])


def test_unknown_excluded_node_is_one_clear_line(student, tmp_path):
    config = ExportConfig(student, tmp_path, exporter="torchscript", int8=True, calib=DIGITS_SPEC, exclude_nodes=("no_such_conv",), speed_search=False, latency=False)
    with pytest.raises(ModelError, match="no node named 'no_such_conv'"):
        export(config)
    assert not list(tmp_path.glob("*.int8-*.onnx"))


def test_sensitivity_search_keeps_the_costliest_layers_in_float(student, tmp_path):
    # 8 calibration images and per-tensor scales: a recipe that loses accuracy on purpose.
    spec = tmp_path / "tiny.yaml"
    spec.write_text("dataset: digits\nsplit: val\nsamples: 8\nseed: 1\n")
    config = ExportConfig(student, tmp_path / "out", exporter="torchscript", int8=True, calib=spec, per_channel=False, max_drop=0.0, speed_search=False, latency=False)
    record = export(config).get("int8", target="cpu")
    search = record.details["sensitivity"]
    assert search["drop_all_quantized"] > 0, "the recipe was meant to lose accuracy (it does with constraints.txt's versions; ORT 1.30 + torch 2.11 kept it lossless)"
    assert len(search["ranking"]) == len(record.details["weighted_nodes"])
    scores = [entry["kl_reduction"] for entry in search["ranking"]]
    assert scores == sorted(scores, reverse=True)
    assert search["met"] and search["drop"] <= 0.0 and record.int8.accuracy["val"]["drop"] == pytest.approx(search["drop"])
    kept = search["kept_in_float"]
    assert kept == [entry["node"] for entry in search["ranking"][: len(kept)]] and len(search["steps"]) == len(kept)
    _, _, producers = _graph(record.path)
    nodes = {n.name: n for n in onnx.load(str(record.path)).graph.node}
    assert all(_weight_dq(nodes[name], producers) is None for name in kept)
