"""The CPU INT8 speed search: MAC counts, per-layer profiles mapped to graph nodes, the choice."""

from __future__ import annotations

import onnx
import pytest
import torch
from torch import nn

from edgekd.export.quantize import preprocess
from edgekd.export.speed_search import weighted_macs


class _ConvThenLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pointwise = nn.Conv2d(8, 4, 1, stride=2)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pointwise(torch.relu(self.conv(x))), 1))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter: quick for a toy net
def test_weighted_macs_counts_output_positions_times_weights(tmp_path):
    source, pre = tmp_path / "net.onnx", tmp_path / "net.pre.onnx"
    torch.onnx.export(
        _ConvThenLinear().eval(),
        (torch.rand(2, 3, 16, 16),),
        str(source),
        dynamo=False,
        input_names=["input"],
        dynamic_axes={"input": {0: "batch"}},
    )
    preprocess(source, pre)
    macs = weighted_macs(pre)
    kinds = {node.name: node.op_type for node in onnx.load(str(pre)).graph.node if node.name in macs}
    convs = sorted(v for k, v in macs.items() if kinds[k] == "Conv")
    linear = [v for k, v in macs.items() if kinds[k] in ("Gemm", "MatMul")]
    # 3×3 conv: 16·16 positions × 8·3·3·3 weights; 1×1 stride-2 conv: 8·8 × 4·8; linear: 256·5.
    assert convs == sorted([16 * 16 * 8 * 3 * 3 * 3, 8 * 8 * 4 * 8])
    assert linear == [256 * 5]


def test_speed_search_profiles_every_layer_and_keeps_only_slower_ones_in_float(full_export):
    record = full_export.get("int8", target="cpu")
    search = record.details["speed_search"]
    weighted = record.details["weighted_nodes"]
    # Every weighted node of the graph was found in the INT8 profile under its own name.
    assert set(search["node_ms"]) == set(weighted)
    assert search["batch"] == 32 and search["float_ns_per_mac"] > 0
    assert all(t["int8"] > 0 and t["float_estimate"] > 0 for t in search["node_ms"].values())
    assert search["slow_nodes"] == [n for n, t in search["node_ms"].items() if t["int8"] > t["float_estimate"]]
    in_float = set(record.details["quantization"]["weighted_in_float"])
    if search["chosen"] == "mixed":
        assert set(search["slow_nodes"]) <= in_float and search["mixed_ms"] < search["all_int8_ms"]
    else:
        assert not in_float & set(search["slow_nodes"])
        assert search["slow_nodes"] == [] or search["mixed_ms"] >= search["all_int8_ms"]


def test_speed_search_is_for_the_cpu_target_only(full_export):
    assert full_export.get("int8", target="tensorrt").details["speed_search"] is None
