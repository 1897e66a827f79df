"""INT8 with ONNX Runtime static quantization: `quant_pre_process`, then `quantize_static` (QDQ).

Two targets, two recipes (see FACTS.md for the measurements behind them):

- `tensorrt`: S8S8, symmetric activations and weights (zero points 0), per-channel weights,
  float biases: the explicit quantization TensorRT 10 and 11 both build from (no calibrator,
  no INT8 builder flag).
- `cpu`: U8S8 (asymmetric uint8 activations, int8 weights), per-channel weights: the
  combination ONNX Runtime's x86 kernels (VNNI) run fastest; S8S8 runs slower than FP32 here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from edgekd.errors import ModelError

if TYPE_CHECKING:  # onnx is imported where it is used
    from onnx import GraphProto

# The weighted ops: where INT8 pays, and the nodes the sensitivity search may keep in float.
WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
# TensorRT fuses Q/DQ into the inputs of weighted layers and residual adds; Q/DQ pairs anywhere
# else only add reformatting, so that target quantizes those ops alone.
TENSORRT_OPS = (*WEIGHTED_OPS, "Add")


@dataclass(frozen=True)
class QuantRecipe:
    """How to quantize.

    Attributes:
        target: `cpu` or `tensorrt`.
        method: calibration method, minmax | entropy | percentile.
        per_channel: one weight scale per output channel (depthwise convs need it).
        exclude_op_types: op types left in float.
        exclude_nodes: node names left in float (names of the pre-processed graph).
    """

    target: str
    method: str = "minmax"
    per_channel: bool = True
    exclude_op_types: tuple[str, ...] = ()
    exclude_nodes: tuple[str, ...] = ()

    @property
    def symmetric_activations(self) -> bool:
        return self.target == "tensorrt"

    def describe(self) -> dict[str, Any]:
        types = "S8S8 symmetric" if self.target == "tensorrt" else "U8S8"
        return {
            **asdict(self),
            "format": "QDQ",
            "library": "onnxruntime",  # PTQ for both targets: measured against ModelOpt's in docs/export.md
            "types": types,
            "bias": "float" if self.target == "tensorrt" else "int32",
        }

    def with_excluded(self, nodes: tuple[str, ...]) -> "QuantRecipe":
        return QuantRecipe(
            self.target,
            self.method,
            self.per_channel,
            self.exclude_op_types,
            tuple(dict.fromkeys((*self.exclude_nodes, *nodes))),
        )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ORT quantization logs at WARNING through the root logger and prints; keep the CLI clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def preprocess(source: Path, target: Path) -> None:
    """`quant_pre_process`: symbolic shape inference and graph optimisation (BN folding, …).

    Node names of the result are what `exclude_nodes` and the sensitivity search refer to.
    """
    from onnxruntime.quantization import quant_pre_process

    try:
        with _quiet():
            quant_pre_process(str(source), str(target), skip_symbolic_shape=False)
    except Exception as exc:  # onnx/ORT raise assorted types from shape inference and optimisation
        raise ModelError(
            f"quant_pre_process failed on {source.name}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc


def weighted_nodes(onnx_path: Path) -> list[tuple[str, str]]:
    """(name, op type) of the weighted nodes of a graph, in graph order."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [(node.name, node.op_type) for node in graph.node if node.op_type in WEIGHTED_OPS]


def _quantize_kwargs(recipe: QuantRecipe, node_ops: dict[str, str]) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization.registry import QDQRegistry

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    op_types = TENSORRT_OPS if recipe.target == "tensorrt" else tuple(QDQRegistry)
    op_types = tuple(op for op in op_types if op not in recipe.exclude_op_types)
    unknown = [n for n in recipe.exclude_nodes if n not in node_ops]
    if unknown:
        close = ", ".join(list(node_ops)[:6])
        raise ModelError(
            f"--exclude-nodes: no node named '{unknown[0]}' in the pre-processed graph (names look like: {close}, "
            "…; export.json lists them)."
        )
    # A removable activation (Relu/Clip before a Q) stays in the graph when some weighted node is
    # kept in float, so that `feed_float_inputs` finds that node's true float input.
    extra = {"WeightSymmetric": True, "QDQKeepRemovableActivations": bool(_excluded(node_ops, recipe))}
    if recipe.target == "tensorrt":
        extra.update(ActivationSymmetric=True, QuantizeBias=False)
    activation = QuantType.QInt8 if recipe.target == "tensorrt" else QuantType.QUInt8
    return dict(
        quant_format=QuantFormat.QDQ,
        per_channel=recipe.per_channel,
        activation_type=activation,
        weight_type=QuantType.QInt8,
        calibrate_method=methods[recipe.method],
        op_types_to_quantize=list(op_types),
        nodes_to_exclude=list(recipe.exclude_nodes),
        extra_options=extra,
    )


def quantize(
    pre_path: Path,
    out_path: Path,
    recipe: QuantRecipe,
    reader_factory: Callable[[], object],
    cache_path: Path | None = None,
) -> dict[str, Any]:
    """Quantize a pre-processed model to QDQ INT8.

    Args:
        pre_path: the output of `preprocess`.
        out_path: where the QDQ model goes (a temporary path; metadata is added later).
        reader_factory: returns a fresh `CalibrationDataReader`.
        cache_path: calibration ranges cache: computed on the first call, reused afterwards
            (the sensitivity search quantizes many times with the same ranges).

    Returns:
        Facts: quantized weighted nodes, nodes kept in float, Q/DQ counts.
    """
    import inspect

    from onnxruntime.quantization import quantize_static

    node_ops = {name: op for name, op in weighted_nodes(pre_path)}
    kwargs = _quantize_kwargs(recipe, node_ops)
    if cache_path is not None and "calibration_cache_path" in inspect.signature(quantize_static).parameters:
        kwargs["calibration_cache_path"] = str(cache_path)  # onnxruntime >= 1.24
    try:
        with _quiet():
            quantize_static(str(pre_path), str(out_path), reader_factory(), **kwargs)
    except Exception as exc:  # ORT raises ValueError/RuntimeError/onnx errors with long texts
        raise ModelError(
            f"quantize_static failed ({recipe.target}): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
    feed_float_inputs(out_path, set(_excluded(node_ops, recipe)))
    return count_qdq(out_path, node_ops, recipe)


def _excluded(node_ops: dict[str, str], recipe: QuantRecipe) -> list[str]:
    return [n for n, op in node_ops.items() if n in recipe.exclude_nodes or op in recipe.exclude_op_types]


def feed_float_inputs(path: Path, in_float: set[str]) -> int:
    """Give the weighted nodes kept in float their activations in float, not through a Q/DQ pair.

    `quantize_static` leaves an excluded Conv/Gemm reading the DequantizeLinear of a quantized
    neighbour. ONNX Runtime's `WeightBiasQuantization` graph optimisation (on by default) then
    quantizes that node's float weight itself, per tensor, when the session is created: the layer
    "kept in float" would run with INT8 weights, worse than the per-channel ones it replaced (an
    outlier weight zeroes all the others). Reading the tensor before its QuantizeLinear keeps the
    layer in float for every runtime. Returns the number of inputs rewired.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    rewired = 0
    for node in graph.node:
        if node.name not in in_float:
            continue
        for slot, name in enumerate(node.input):
            dq = producer.get(name)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[slot] = q.input[0]
                rewired += 1
    if rewired:
        _drop_unused_qdq(graph)
        onnx.save(model, str(path))
    return rewired


def _drop_unused_qdq(graph: GraphProto) -> None:
    """Remove Q/DQ nodes whose outputs nothing reads any more (a DQ first, then its Q), then their constants."""
    outputs = {o.name for o in graph.output}
    while True:
        consumed = {name for node in graph.node for name in node.input} | outputs
        dead = [
            n
            for n in graph.node
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and not any(o in consumed for o in n.output)
        ]
        if not dead:
            for tensor in [t for t in graph.initializer if t.name not in consumed]:
                graph.initializer.remove(tensor)  # the removed pairs' scales and zero points
            return
        for node in dead:
            graph.node.remove(node)


def count_qdq(path: Path, node_ops: dict[str, str], recipe: QuantRecipe) -> dict[str, Any]:
    """What a QDQ model holds: Q/DQ node counts and which weighted nodes stayed in float."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    ops = [n.op_type for n in graph.node]
    excluded = _excluded(node_ops, recipe)
    return {
        "quantize_linear": ops.count("QuantizeLinear"),
        "dequantize_linear": ops.count("DequantizeLinear"),
        "weighted_nodes": len(node_ops),
        "weighted_in_float": excluded,
        "weighted_quantized": len(node_ops) - len(excluded),
    }
