"""Latency-guided INT8 for the CPU target: keep in float the layers INT8 makes slower.

Why: ONNX Runtime's x86 INT8 kernels are not faster everywhere. Measured here (resnet18 at
32 px, batch 32, 2 threads): the 3×3 convs of its last stage, which run on a 1×1 feature map,
take ~1.07 ms each as QLinearConv against ~0.45 ms in float, so quantizing them turned a
1.97× INT8 speed-up into 1.44×. Which layers suffer depends on the CPU, the shapes and the
thread count, so it is measured, not listed.

How: profile the FP32 model with ONNX Runtime's profiler and derive its time per
multiply-accumulate over the weighted kernels (Conv, Gemm, MatMul); profile the fully quantized
model per node; a weighted node whose INT8 kernel takes longer than its MACs would at the float
rate is a candidate to keep in float. The caller quantizes again without the candidates and
ships whichever model is faster end to end, so the estimate can never make the result worse.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Float kernels after ORT's fusions (NCHWc convs keep the op name Conv, Conv+Act → FusedConv).
FLOAT_WEIGHTED_KERNELS = ("Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul")
# INT8 kernels the QDQ weighted nodes become; their profiled name is the QDQ node's plus a suffix.
INT8_WEIGHTED_KERNELS = (
    "QLinearConv",
    "QGemm",
    "QLinearMatMul",
    "MatMulIntegerToFloat",
    "ConvInteger",
    "MatMulInteger",
)
_FUSION_SUFFIX = re.compile(r"(_token_\d+)+$")


@dataclass
class SpeedSearch:
    """What the search measured and chose (recorded in the INT8 artefact's metadata).

    Attributes:
        slow_nodes: weighted nodes kept in float because INT8 made them slower.
        node_ms: per candidate node, its INT8 kernel time and its estimated float time (ms).
        float_ns_per_mac: the FP32 model's weighted-kernel time per MAC (per sample).
        all_int8_ms / mixed_ms: whole-model median latency of the two INT8 candidates.
        chosen: `mixed` (slow nodes in float) or `all` (every node quantized).
    """

    batch: int
    threads: int | None
    slow_nodes: list[str] = field(default_factory=list)
    node_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    float_ns_per_mac: float | None = None
    all_int8_ms: float | None = None
    mixed_ms: float | None = None
    chosen: str = "all"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": (
                "keep a weighted node in float when its INT8 kernel is slower than its MACs at the FP32 model's time "
                "per MAC; ship the faster whole model"
            ),
            "batch": self.batch,
            "threads": self.threads,
            "float_ns_per_mac": self.float_ns_per_mac,
            "slow_nodes": self.slow_nodes,
            "node_ms": self.node_ms,
            "all_int8_ms": self.all_int8_ms,
            "mixed_ms": self.mixed_ms,
            "chosen": self.chosen,
        }


def weighted_macs(pre_path: Path) -> dict[str, int]:
    """Multiply-accumulates per sample of each weighted node (Conv, Gemm, MatMul with a
    constant weight), from the shapes `quant_pre_process` inferred. Nodes whose output shape is
    unknown are left out."""
    import onnx

    graph = onnx.load(str(pre_path), load_external_data=False).graph
    weights = {init.name: list(init.dims) for init in graph.initializer}
    shapes = {
        info.name: [d.dim_value if d.HasField("dim_value") else None for d in info.type.tensor_type.shape.dim]
        for info in (*graph.value_info, *graph.output)
    }
    macs = {}
    for node in graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        weight = next((weights[name] for name in node.input[1:2] if name in weights), None)
        out = shapes.get(node.output[0])
        if weight is None or not out or any(d is None for d in out[1:]):
            continue
        per_sample = [d for d in out[1:] if d is not None]  # all of them (checked above)
        if node.op_type in ("Conv", "ConvTranspose"):
            positions = math.prod(per_sample[1:])  # output pixels per sample
        else:
            positions = math.prod(per_sample[:-1]) if len(out) > 2 else 1  # tokens per sample
        macs[node.name] = positions * math.prod(weight)
    return macs


def kernel_times_us(
    onnx_path: Path, inputs: np.ndarray, threads: int | None, runs: int
) -> list[tuple[str, str, float]]:
    """(node name, kernel op, mean µs per run) of every node, from ONNX Runtime's profiler."""
    import onnxruntime as ort

    from edgekd.runtime.ort_backend import session_options

    options = session_options(threads)
    options.enable_profiling = True
    # Beside the model (the export's work folder), not under /tmp: a killed export leaves its
    # trace where the next run on the output folder removes it.
    with tempfile.TemporaryDirectory(prefix="edgekd-profile-", dir=onnx_path.parent) as folder:
        options.profile_file_prefix = os.path.join(folder, "ort")
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: inputs}
        session.run(None, feed)  # warm-up (its events are in the trace too: averaged away below)
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[tuple[str, str], float] = {}
    for event in events:
        name = event.get("name", "")
        if event.get("cat") == "Node" and name.endswith("_kernel_time"):
            key = (name[: -len("_kernel_time")], event.get("args", {}).get("op_name", ""))
            totals[key] = totals.get(key, 0.0) + float(event.get("dur", 0))
    return [(name, op, total / (runs + 1)) for (name, op), total in totals.items()]


def slow_int8_nodes(
    pre_path: Path, int8_path: Path, inputs: np.ndarray, threads: int | None, runs: int = 20
) -> SpeedSearch:
    """The weighted nodes whose INT8 kernel is slower than float would be (see the module doc).

    Args:
        pre_path: the pre-processed FP32 model (node names match the QDQ model's).
        int8_path: the model with every weighted node quantized.
        inputs: one batch of real, prepared model inputs (the batch the search optimises for).
    """
    search = SpeedSearch(batch=int(inputs.shape[0]), threads=threads)
    macs = weighted_macs(pre_path)
    float_us = sum(t for _, op, t in kernel_times_us(pre_path, inputs, threads, runs) if op in FLOAT_WEIGHTED_KERNELS)
    total_macs = sum(macs.values()) * search.batch
    if not macs or float_us <= 0:
        return search
    search.float_ns_per_mac = float_us * 1000 / total_macs
    for name, op, int8_us in kernel_times_us(int8_path, inputs, threads, runs):
        original = _FUSION_SUFFIX.sub("", name)
        if op not in INT8_WEIGHTED_KERNELS or original not in macs:
            continue
        float_estimate_us = macs[original] * search.batch * search.float_ns_per_mac / 1000
        search.node_ms[original] = {
            "int8": round(int8_us / 1000, 4),
            "float_estimate": round(float_estimate_us / 1000, 4),
        }
        if int8_us > float_estimate_us:
            search.slow_nodes.append(original)
    return search
