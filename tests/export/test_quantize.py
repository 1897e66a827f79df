"""INT8: the two targets' QDQ recipes, exclusions, the sensitivity search and the honest verdict."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from export_helpers import DIGITS_SPEC
from onnx import numpy_helper

from edgekd.engine.progress import SilentProgress
from edgekd.errors import ModelError
from edgekd.export import ExportConfig, export
from edgekd.export.samples import data_config_for, load_for_card
from edgekd.models import load_model, read_card, save_model


def _graph(path):
    model = onnx.load(str(path))
    return (
        model,
        {t.name: numpy_helper.to_array(t) for t in model.graph.initializer},
        {o: n for n in model.graph.node for o in n.output},
    )


def _weight_dq(node, producers):
    """The DequantizeLinear feeding a node's weight input, or None when the weight is float."""
    producer = producers.get(node.input[1])
    return producer if producer is not None and producer.op_type == "DequantizeLinear" else None


def _float_at_run_time(path, names, tmp_path) -> list[str]:
    """Of `names`, the nodes whose weight is still float in the graph ONNX Runtime runs.

    ORT's basic graph optimisations (on by default) include `WeightBiasQuantization`, which
    quantizes the float weight of a Conv/Gemm reading a DequantizeLinear: what the saved file
    says is not enough, the session's own graph must keep the layer in float.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(tmp_path / "as-run.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    _, init, producers = _graph(tmp_path / "as-run.onnx")
    nodes = {n.name: n for n in onnx.load(str(tmp_path / "as-run.onnx")).graph.node}
    return [
        name
        for name in names
        if _weight_dq(nodes[name], producers) is None and init[nodes[name].input[1]].dtype == np.float32
    ]


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
    assert (
        meta["precision"] == "int8"
        and meta["quantization"]["target"] == "tensorrt"
        and meta["quantization"]["types"] == "S8S8 symmetric"
        and meta["quantization"]["library"] == "onnxruntime"  # PTQ stays ONNX Runtime's (docs/export.md)
    )
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
    config = ExportConfig(
        student,
        tmp_path,
        int8=True,
        calib=DIGITS_SPEC,
        exclude_nodes=(first_conv,),
        exclude_op_types=("Gemm",),
        speed_search=False,
        latency=False,
    )
    result = export(config)
    record = result.get("int8", target="cpu")
    model, init, producers = _graph(record.path)
    nodes = {n.name: n for n in model.graph.node}
    assert _weight_dq(nodes[first_conv], producers) is None and init[nodes[first_conv].input[1]].dtype == np.float32
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    assert gemms and all(_weight_dq(g, producers) is None for g in gemms)
    in_float = [first_conv, *(g.name for g in gemms)]
    assert _float_at_run_time(record.path, in_float, tmp_path) == in_float
    facts = record.details["quantization"]
    assert first_conv in facts["weighted_in_float"] and facts["weighted_quantized"] == facts["weighted_nodes"] - len(
        facts["weighted_in_float"]
    )


def test_unknown_excluded_node_is_one_clear_line(student, tmp_path):
    config = ExportConfig(
        student,
        tmp_path,
        exporter="torchscript",
        int8=True,
        calib=DIGITS_SPEC,
        exclude_nodes=("no_such_conv",),
        speed_search=False,
        latency=False,
    )
    with pytest.raises(ModelError, match="no node named 'no_such_conv'"):
        export(config)
    assert not list(tmp_path.glob("*.int8-*.onnx"))


def _poison_one_conv(student, out_dir):
    """A copy of `student` with one conv that INT8 provably cannot represent.

    Stem channel 0 is made dead (zero weights, zero BN shift): exactly 0 after ReLU in FP32 and
    in INT8, since 0 quantizes to 0 at any scale. The next conv then gets, in every output
    channel, a weight from that dead channel 1000× its largest weight. The FP32 function is
    unchanged (1000 × 0), but the weight scale, per tensor or per channel, becomes
    ≥ 1000·max|w|/127, so every live weight rounds to 0: in INT8 the layer outputs its bias
    alone, the same for every image. No CPU kernel or ONNX Runtime version can make that lossless.
    """
    model, card = load_model(student)
    stem = model.conv1
    with torch.no_grad():
        stem[0].weight[0] = 0
        stem[1].running_mean[0], stem[1].bias[0] = 0.0, 0.0
        stem[3].weight[:, 0] = 1000 * stem[3].weight.abs().max()
    return save_model(model, card, out_dir / "student.safetensors")


def _largest_class_share(source) -> float:
    """The largest class share (%) of the val split export measures on (the student's own)."""
    card = read_card(source)
    labels = load_for_card(data_config_for(card, None, None, SilentProgress()), card).val.labels
    return 100.0 * float(torch.bincount(labels).max()) / len(labels)


def _node_with_outlier_weight(onnx_path) -> str:
    """The Conv node whose weight holds the largest value of the FP32 graph (the poisoned one)."""
    model, init, _ = _graph(onnx_path)
    convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in init]
    return max(convs, key=lambda n: float(np.abs(init[n.input[1]]).max())).name


def test_sensitivity_search_keeps_the_costliest_layers_in_float(student, tmp_path):
    source = _poison_one_conv(student, tmp_path / "poisoned")
    budget = 2.0
    config = ExportConfig(
        source,
        tmp_path / "out",
        exporter="torchscript",
        int8=True,
        calib=DIGITS_SPEC,
        max_drop=budget,
        speed_search=False,
        latency=False,
    )
    result = export(config)
    record = result.get("int8", target="cpu")
    search = record.details["sensitivity"]
    fp32_top1 = record.int8.accuracy["val"]["fp32_top1"]
    assert fp32_top1 > 50, "precondition: the poisoned FP32 student still classifies digits"
    # All layers in INT8: the poisoned conv's output no longer depends on the image, so the model
    # predicts one class and its top-1 is at most the largest class share of val.
    assert fp32_top1 - search["drop_all_quantized"] <= _largest_class_share(source) + 1e-6
    # The mechanism: every weighted layer ranked by what keeping it alone in float buys back, the
    # best first kept in float, stopping at the first step within budget (or with all in float).
    assert len(search["ranking"]) == len(record.details["weighted_nodes"])
    scores = [entry["kl_reduction"] for entry in search["ranking"]]
    assert scores == sorted(scores, reverse=True)
    poisoned = _node_with_outlier_weight(result.get("fp32").path)
    kept = search["kept_in_float"]
    assert search["ranking"][0]["node"] == poisoned and kept[0] == poisoned
    assert kept == [entry["node"] for entry in search["ranking"][: len(kept)]]
    assert [step["in_float"] for step in search["steps"]] == list(range(1, len(kept) + 1))
    assert search["steps"][0]["val_drop"] < search["drop_all_quantized"]
    assert all(step["val_drop"] > budget for step in search["steps"][:-1])
    assert search["drop"] <= budget if search["met"] else len(kept) == len(search["ranking"])
    assert record.int8.accuracy["val"]["drop"] == pytest.approx(search["drop"])
    _, _, producers = _graph(record.path)
    nodes = {n.name: n for n in onnx.load(str(record.path)).graph.node}
    assert all(_weight_dq(nodes[name], producers) is None for name in kept)
    assert _float_at_run_time(record.path, kept, tmp_path) == kept
