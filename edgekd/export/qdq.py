"""The QDQ ONNX of a QAD student (`edgekd distill --quantize`): the `tensorrt` INT8 target.

A QAD student carries its quantizers' ranges (calibrated before QAD and kept through it, see
`edgekd.models.quantized`), so no ONNX Runtime calibration happens here: the fake-quantized
PyTorch model is rebuilt from the safe state and exported as it is. ModelOpt's INT8 config is
the TensorRT recipe — symmetric signed 8-bit, per-channel weights, per-tensor activations — so
the graph holds S8S8 QuantizeLinear/DequantizeLinear pairs that TensorRT builds a strongly typed
(explicit-quantization) engine from. It passes a parity gate against the fake-quantized PyTorch
model on the val images (see `QDQ_GATE`) and is measured against the FP32 ONNX on val and
test, like every INT8 artefact.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx
import torch
from torch import nn

from edgekd.errors import CheckFailed, ConfigError
from edgekd.export.int8_report import Int8Report, judge
from edgekd.export.onnx_export import INPUT_NAME, OUTPUT_NAME, example_input, save_with_metadata
from edgekd.export.parity import ParityGate, compare
from edgekd.export.samples import predict_backend
from edgekd.export.source import is_qad_checkpoint
from edgekd.models import ModelCard
from edgekd.models.quantized import (
    QDQ_OPSET,
    export_qdq_onnx,
    load_quantized,
    quantization_counts,
    require_modelopt,
)
from edgekd.runtime.base import INPUT_NCHW_FLOAT, Backend
from edgekd.runtime.ort_backend import OrtBackend, session_options

if TYPE_CHECKING:
    from edgekd.export.artefacts import ExportRun
    from edgekd.export.config import ExportConfig
    from edgekd.export.source import ExportSource

TARGET = "tensorrt"
# The gate checks that the graph computes the fake-quantized model: ONNX Runtime with graph
# optimisations off runs every QuantizeLinear/DequantizeLinear as written, in float, as PyTorch
# does; float accumulation order still moves a few values across a rounding step, and ~100
# quantizers compound that, so top-1 must agree on 99.5 % of the val images (max |Δlogit| is
# reported). With optimisations on (what eval and deployment run) ONNX Runtime fuses the pairs
# into integer kernels that round differently; that agreement is reported, and its accuracy is
# what the INT8 figures measure.
QDQ_GATE = ParityGate(min_agreement=99.5, max_abs_diff=None)


class FakeQuantBackend(Backend):
    """The fake-quantized PyTorch model behind the backend interface (the parity reference)."""

    name = "torch"

    def __init__(self, model: nn.Module, card: ModelCard, device: str = "cpu"):
        super().__init__(card, device=device, precision="int8")
        self.model = model.to(device).eval()

    @torch.no_grad()
    def run(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs.to(self.device)).float().cpu()


def qad_int8_onnx(run: "ExportRun", fp32_path: Path) -> dict[str, Any]:
    """Export, gate and measure `NAME.int8-tensorrt.onnx` of the QAD checkpoint `run` exports.

    Args:
        run: the export run (its source is a QAD checkpoint).
        fp32_path: the gated FP32 ONNX of the same weights, the reference of the INT8 figures.

    Returns:
        The published file and its checks (`path`, `target`, `parity`, `int8`, `details`), as
        the stage's artefact record takes them.
    """
    progress = run.progress
    model, card, state = load_quantized(run.source.path, exportable=True)
    counts = quantization_counts(model)
    progress.log(
        f"QDQ ONNX of the QAD student ({state['recipe']}, {counts['enabled']} ModelOpt quantizers; TorchScript "
        f"exporter, opset {QDQ_OPSET})"
    )
    work_path = run.work / f"{run.name}.int8-{TARGET}.onnx"
    export_qdq_onnx(model, example_input(card.input, baked=False), work_path, INPUT_NAME, OUTPUT_NAME)
    proto = onnx.load(str(work_path))
    onnx.checker.check_model(proto, full_check=True)
    ops = Counter(node.op_type for node in proto.graph.node)
    quantization = {
        "target": TARGET,
        "format": "QDQ",
        "types": "S8S8 symmetric",
        "library": "nvidia-modelopt",
        "recipe": state["recipe"],
        "per_channel": state["recipe"] == "int8",
        "ranges": "calibrated by ModelOpt before QAD, kept through it",
        "quantize_linear": ops["QuantizeLinear"],
        "dequantize_linear": ops["DequantizeLinear"],
        "float_ops": _float_ops(proto.graph),
        "quantizers": counts,
        "calibration": (card.training.get("quantize") or {}).get("calibration"),
        "state": {
            "file": card.extra.get("quantizers", {}).get("state"),
            "amax_sha256": state["amax_sha256"],
            "versions": state["versions"],
        },
    }
    facts = {
        "exporter": "torchscript",
        "opset": QDQ_OPSET,
        "simplified": False,
        "bake_preprocess": False,
        "quantization": quantization,
    }
    payload = run.payload("int8", INPUT_NCHW_FLOAT, facts)

    assert run.val is not None  # a QAD export checks parity on val
    reference = predict_backend(FakeQuantBackend(model, card), run.val)
    save_with_metadata(proto, work_path, payload)
    literal = _unoptimised(run.ort(work_path), work_path)
    parity = compare(
        reference,
        predict_backend(literal, run.val),
        QDQ_GATE,
        names=("torch fake-quant", f"onnx int8 {TARGET} (Q/DQ as written)"),
        split="val",
    )
    progress.log(("✓ " if parity.passed else "✗ ") + parity.line())
    if not parity.passed:  # not enforce(): its advice (another exporter or opset) does not apply here
        raise CheckFailed(
            f"parity failed: {parity.line()}. The QDQ ONNX does not compute the fake-quantized model and was not "
            "written."
        )
    candidate = run.ort(work_path)
    fused = compare(
        reference,
        predict_backend(candidate, run.val),
        QDQ_GATE,
        names=("torch fake-quant", f"onnx int8 {TARGET} (integer kernels)"),
        split="val",
    )
    progress.log(
        f"  {fused.candidate} vs {fused.reference}: agreement {fused.agreement:.2f} %, max |Δlogit| "
        f"{fused.max_abs_diff:.2e} (reported)"
    )

    report = measure(run, fp32_path, candidate)
    progress.log(
        f"INT8 ({TARGET}, QAD) vs FP32 ONNX: "
        + ", ".join(
            f"{split} {b['int8_top1']:.2f} vs {b['fp32_top1']:.2f} % (drop {b['drop']:.2f} pt)"
            for split, b in report.accuracy.items()
        )
    )
    details = {
        "quantization": quantization,
        "parity": parity.to_dict(),
        "integer_kernels": {k: v for k, v in fused.to_dict().items() if k not in ("gate", "passed")},
        "qad_from": _from_student(card, report),
    }
    published = run.publish(
        proto,
        {**payload, "parity": parity.to_dict(), "int8": report.to_dict(), "qad_from": details["qad_from"]},
        f"{run.name}.int8-{TARGET}.onnx",
    )
    return {"path": published, "target": TARGET, "parity": parity, "int8": report, "details": details}


def _unoptimised(backend: OrtBackend, path: Path) -> OrtBackend:
    """The same backend with ONNX Runtime's graph optimisations off (each Q/DQ node runs as written)."""
    import onnxruntime as ort

    options = session_options(backend.session.get_session_options().intra_op_num_threads or None)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    backend.session = ort.InferenceSession(str(path), options, providers=backend.session.get_providers())
    return backend


def measure(run: "ExportRun", fp32_path: Path, int8: Backend) -> Int8Report:
    """Top-1 of the QDQ model vs the FP32 ONNX of the same weights on val and test (no CPU timing: a TensorRT model)."""
    return judge(run.score_int8(TARGET, run.ort(fp32_path), fp32_path, int8, False))


def _float_ops(graph: onnx.GraphProto) -> dict[str, int]:
    """Compute ops with no DequantizeLinear feeding them (they run in float), by op type."""
    passthrough = {"Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose"}  # layout only
    plumbing = passthrough | {"QuantizeLinear", "DequantizeLinear", "Constant", "Cast", "Shape", "Gather", "Concat"}
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    for node in graph.node:  # graph order is topological: a dequantized tensor stays so through layout ops
        if node.op_type in passthrough and node.input and node.input[0] in dequantized:
            dequantized.update(node.output)
    return dict(
        sorted(
            Counter(
                n.op_type for n in graph.node if n.op_type not in plumbing and not dequantized.intersection(n.input)
            ).items()
        )
    )


def _from_student(card: ModelCard, report: Int8Report) -> dict[str, Any] | None:
    """The FP32 student QAD started from, and the INT8 drop against it (points) on each split."""
    start = (card.training.get("quantize") or {}).get("from")
    if not start:
        return None
    metrics = start.get("metrics") or {}
    drops = {
        split: metrics[split]["top1"] - block["int8_top1"]
        for split, block in report.accuracy.items()
        if (metrics.get(split) or {}).get("top1") is not None
    }
    return {
        "path": start.get("path"),
        "sha256": start.get("sha256"),
        "top1": {s: (metrics.get(s) or {}).get("top1") for s in ("val", "test")},
        "int8_drop_vs_from": drops,
        "ptq": (card.training.get("quantize") or {}).get("ptq"),
    }


def check_qad_source(source: "ExportSource", config: "ExportConfig") -> None:
    """Before anything is written: a QAD student needs ModelOpt, and its TensorRT INT8 is its own."""
    if source.kind != "checkpoint" or not is_qad_checkpoint(source.path):
        return
    require_modelopt(f"exporting {source.path.name} (a QAD student)")
    if config.int8 and "tensorrt" in config.int8_targets:
        raise ConfigError(
            f"{source.path.name} is a QAD student: its TensorRT INT8 ONNX comes from its own quantizers, written "
            "without --int8; use --int8-target cpu for ONNX Runtime PTQ."
        )
