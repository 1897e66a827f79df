"""PyTorch → ONNX: input `input`, output `logits`, dynamic batch, explicit exporter and opset.

The graph is checked with `onnx.checker` (full check, with shape inference), simplified with
onnxslim, and carries the model card under the metadata key `edgekd`, so an ONNX shipped alone
to a device still knows its classes, preprocessing and where it came from.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgekd.data import InputSpec
from edgekd.errors import ModelError
from edgekd.runtime.base import INPUT_NCHW_FLOAT, INPUT_NHWC_UINT8
from edgekd.runtime.ort_backend import ONNX_METADATA_KEY

if TYPE_CHECKING:  # onnx is imported where it is used (it is slow to import)
    from onnx import GraphProto, ModelProto

INPUT_NAME, OUTPUT_NAME = "input", "logits"
METADATA_SCHEMA = "edgekd.onnx/1"
# torch.export specialises dimensions of size 1 (and 0); tracing with 2 keeps batch dynamic.
TRACE_BATCH = 2


class BakedPreprocess(nn.Module):
    """uint8 NHWC camera frames → the model's normalised NCHW float input → the model.

    `(x / 255 - mean) / std` is folded into one multiply-add per channel.
    """

    scale: torch.Tensor  # (1, C, 1, 1) buffers, registered in __init__
    shift: torch.Tensor

    def __init__(self, model: nn.Module, spec: InputSpec):
        super().__init__()
        self.model = model
        mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std))
        self.register_buffer("shift", -mean / std)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        pixels = frames.permute(0, 3, 1, 2).to(torch.float32)
        logits: torch.Tensor = self.model(pixels * self.scale + self.shift)
        return logits


@dataclass(frozen=True)
class OnnxFacts:
    """How an ONNX file was made (recorded in its metadata and in export.json)."""

    exporter: str
    opset: int
    simplified: bool
    input_format: str
    input_shape: list[Any]
    nodes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def example_input(spec: InputSpec, baked: bool, batch: int = TRACE_BATCH) -> torch.Tensor:
    """A traceable input: float NCHW, or uint8 NHWC frames for a baked model."""
    if baked:
        return torch.randint(0, 256, (batch, spec.size, spec.size, spec.in_chans), dtype=torch.uint8)
    return torch.randn(batch, spec.in_chans, spec.size, spec.size)


def export_onnx(
    model: nn.Module, spec: InputSpec, *, exporter: str, opset: int, simplify: bool, bake_preprocess: bool
) -> tuple[ModelProto, OnnxFacts]:
    """Export `model` to an in-memory ONNX model (no metadata yet; see `set_metadata`).

    Args:
        model: eval-mode PyTorch classifier taking normalised (N, C, H, W) float32.
        spec: its input spec (size px, channels, mean/std for baking).
        exporter: `dynamo` or `torchscript`, never left to torch's default.
        opset: ONNX opset to write.
        simplify: run onnxslim.
        bake_preprocess: input becomes uint8 (N, H, W, C) frames.

    Returns:
        (onnx.ModelProto, OnnxFacts)
    """
    import onnx

    module = BakedPreprocess(model, spec).eval() if bake_preprocess else model.eval()
    example = example_input(spec, bake_preprocess)
    try:
        proto = _run_exporter(module, example, exporter, opset)
    except Exception as exc:  # exporters raise many types (TorchExportError, RuntimeError, …) for unsupported models
        other = "torchscript" if exporter == "dynamo" else "dynamo"
        raise ModelError(
            f"the {exporter} exporter cannot export this model ({type(exc).__name__}: {_first_line(exc)}); try "
            f"--exporter {other}."
        ) from exc
    simplified = False
    if simplify:
        import onnxslim

        proto, simplified = onnxslim.slim(proto), True
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"the exported ONNX fails onnx.checker: {_first_line(exc)}") from exc
    _check_interface(proto)
    facts = OnnxFacts(
        exporter=exporter,
        opset=_opset(proto),
        simplified=simplified,
        input_format=INPUT_NHWC_UINT8 if bake_preprocess else INPUT_NCHW_FLOAT,
        input_shape=_input_shape(proto),
        nodes=len(proto.graph.node),
    )
    return proto, facts


def _run_exporter(module: nn.Module, example: torch.Tensor, exporter: str, opset: int) -> ModelProto:
    import onnx

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # deprecation chatter of the exporters, not about this model
        if exporter == "dynamo":
            program = torch.onnx.export(
                module,
                (example,),
                None,
                dynamo=True,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                optimize=True,
                verbose=False,
                report=False,
            )
            assert program is not None  # the dynamo exporter returns its program
            return program.model_proto
        buffer = io.BytesIO()
        torch.onnx.export(
            module,
            (example,),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object; the stub says path
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
        return onnx.load_from_string(buffer.getvalue())


def _check_interface(proto: ModelProto) -> None:
    inputs, outputs = [i.name for i in proto.graph.input], [o.name for o in proto.graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise ModelError(
            f"the exported graph has inputs {inputs} and outputs {outputs}; expected ['{INPUT_NAME}'] and "
            f"['{OUTPUT_NAME}']."
        )
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    if batch_dim.HasField("dim_value"):
        raise ModelError(
            f"the exporter fixed the batch dimension to {batch_dim.dim_value}; the model must take any batch size."
        )


def _opset(proto: ModelProto) -> int:
    return int(next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")))


def _input_shape(proto: ModelProto) -> list[Any]:
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in dims]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def set_metadata(proto: ModelProto, payload: dict[str, Any]) -> None:
    """Store `payload` as JSON under the `edgekd` metadata key (replacing an older entry)."""
    kept = [p for p in proto.metadata_props if p.key != ONNX_METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps({"schema": METADATA_SCHEMA, **payload}, default=str)


def save_with_metadata(proto: ModelProto, path: Path, payload: dict[str, Any]) -> None:
    """Set the `edgekd` metadata of `proto` and save it to `path`."""
    import onnx

    set_metadata(proto, payload)
    onnx.save(proto, str(path))


def convert_to_fp16(proto: ModelProto) -> ModelProto:
    """FP16 weights and compute, float32 input/output (so every runner feeds it alike).

    This is the mixed-precision ONNX that TensorRT 11 needs for FP16 (its builder flag is gone):
    a strongly typed network takes its precision from the graph.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source = onnx.ModelProto()
    source.CopyFrom(proto)  # the converter edits the model it is given
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about values clamped to the fp16 range
        half: ModelProto = convert_float_to_float16(source, keep_io_types=True)
    sort_nodes(half.graph)  # the converter appends its input casts after their consumers
    try:
        onnx.checker.check_model(half, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelError(f"the FP16 ONNX fails onnx.checker: {_first_line(exc)}") from exc
    return half


def sort_nodes(graph: GraphProto) -> None:
    """Order a graph's nodes topologically (stable: keeps the given order where it is valid)."""
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progressed = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                progressed.append(node)
        if len(progressed) == len(pending):
            raise ModelError(f"the FP16 graph has a cycle or a dangling input at node {pending[0].name}.")
        pending = progressed
    copies = [type(node)() for node in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)
