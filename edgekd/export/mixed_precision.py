"""INT8 + FP16: a TensorRT-recipe QDQ ONNX whose non-quantized layers run in FP16.

A strongly typed TensorRT engine runs every layer in the precision the ONNX gives it, so the
plain QDQ model runs everything that is not quantized (activations, pooling, the residual path
outside Q/DQ pairs) in FP32; NVIDIA recommends FP16 for those layers (FACTS.md). ModelOpt's
ONNX AutoCast would do this but its `[onnx]` extra pins onnx~=1.21 / onnxruntime-gpu and cupy,
which conflict with ours, so the conversion is onnxconverter-common's float16 pass (shipped
inside onnxruntime as `onnxruntime.transformers.float16`):

- The graph is moved to opset 19 first: from 19 on, QuantizeLinear/DequantizeLinear take FP16
  scales, so activation Q/DQ pairs work in FP16 with no Cast around them (Casts next to Q/DQ
  are what makes ModelOpt users' INT8 engines slower than FP16).
- Weight DequantizeLinear nodes stay FP32, followed by a Cast: per-channel weight scales of a
  trained model go far below FP16's smallest subnormal (measured: 6.8e-9 in a digits resnet10t),
  and flushing them to FP16 cost 11 points of top-1 agreement in ONNX Runtime.
- Input and output stay float32, like the FP16 ONNX, so every runner feeds it alike.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from edgekd.errors import ModelError

if TYPE_CHECKING:  # onnx is imported where it is used
    from onnx import ModelProto

FP16_QDQ_OPSET = 19  # the first opset whose QuantizeLinear/DequantizeLinear take FP16 scales
FLOAT, FLOAT16 = 1, 10  # onnx.TensorProto element types


@dataclass(frozen=True)
class PrecisionCounts:
    """What the converted graph computes in which precision (node counts).

    Attributes:
        quantize_linear, dequantize_linear: Q/DQ nodes.
        fp16_ops: nodes (other than Q/DQ and Cast) whose output is FP16.
        fp32_ops: nodes (other than Q/DQ and Cast) whose output is FP32.
        casts: Cast nodes (the float32 I/O boundary and each weight DQ → FP16).
        fp16_qdq: Q/DQ nodes working on FP16 tensors (activation pairs).
    """

    quantize_linear: int
    dequantize_linear: int
    fp16_ops: int
    fp32_ops: int
    casts: int
    fp16_qdq: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _element_types(proto: ModelProto) -> dict[str, int]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.input, *graph.output)}
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def precision_counts(proto: ModelProto) -> PrecisionCounts:
    """Count Q/DQ nodes and the nodes computing in FP16 and FP32 (by their output type)."""
    types = _element_types(proto)
    counts: Counter[str] = Counter()
    for node in proto.graph.node:
        out_type = types.get(node.output[0]) if node.output else None
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            counts[node.op_type] += 1
            scale_type = types.get(node.input[1]) if len(node.input) > 1 else None
            counts["fp16_qdq"] += scale_type == FLOAT16
        elif node.op_type == "Cast":
            counts["casts"] += 1
        elif out_type == FLOAT16:
            counts["fp16"] += 1
        elif out_type == FLOAT:
            counts["fp32"] += 1
    return PrecisionCounts(
        counts["QuantizeLinear"],
        counts["DequantizeLinear"],
        counts["fp16"],
        counts["fp32"],
        counts["casts"],
        counts["fp16_qdq"],
    )


def int8_with_fp16(qdq_proto: ModelProto) -> tuple[ModelProto, PrecisionCounts]:
    """The QDQ INT8 model with its non-quantized layers and activation Q/DQ in FP16.

    Args:
        qdq_proto: a TensorRT-recipe QDQ model (symmetric int8, float scales), not modified.

    Returns:
        (onnx.ModelProto, PrecisionCounts)
    """
    import onnx
    from onnx import version_converter
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from edgekd.export.onnx_export import sort_nodes

    opset = next(o.version for o in qdq_proto.opset_import if o.domain in ("", "ai.onnx"))
    try:
        source = (
            version_converter.convert_version(qdq_proto, FP16_QDQ_OPSET)
            if opset < FP16_QDQ_OPSET
            else onnx.ModelProto.FromString(qdq_proto.SerializeToString())
        )
    except Exception as exc:  # the converter raises RuntimeError/ValidationError for ops it cannot adapt
        raise ModelError(
            f"cannot move the INT8 model from opset {opset} to {FP16_QDQ_OPSET} for FP16 Q/DQ "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})."
        ) from exc
    weights = {t.name for t in source.graph.initializer}
    weight_dq = [n.name for n in source.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in weights]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about values clamped to the FP16 range
        half = convert_float_to_float16(source, keep_io_types=True, node_block_list=weight_dq)
    sort_nodes(half.graph)
    try:
        onnx.checker.check_model(half, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"the INT8 + FP16 ONNX fails onnx.checker: {str(exc).splitlines()[0][:300]}") from exc
    return half, precision_counts(half)
