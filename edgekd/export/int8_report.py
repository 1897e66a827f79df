"""INT8 against FP32: top-1, agreement, latency, and an honest verdict.

An INT8 artefact is recommended only when it was measured faster than FP32 on its own target
at every batch size timed and its val top-1 drop is within budget. A CPU model slower than FP32
is reported as such with FP32 recommended; a TensorRT model is never judged by CPU timings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from edgekd.engine.metrics import Predictions
from edgekd.runtime import Backend, compare_latency

DEFAULT_DROP_BUDGET = 0.5  # points of val top-1; --max-drop replaces it
LATENCY_BATCHES = (1, 32)


@dataclass
class Int8Report:
    """What export.json and the CLI say about one INT8 artefact.

    Attributes:
        target: `cpu` or `tensorrt`.
        accuracy: per split: fp32_top1, int8_top1, drop (points), agreement with FP32 (percent), samples.
        latency: per batch size: fp32_ms, int8_ms (median of one call), speedup (fp32/int8);
            None when not measured.
        latency_device: where the latency was measured (e.g. "cpu, onnxruntime, 2 threads").
        recommend: `int8`, `fp32`, or `measure on target` (TensorRT: timed on the GPU only).
        verdict: one sentence a person reads.
    """

    target: str
    accuracy: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: dict[int, dict[str, Any]] | None = None
    latency_device: str | None = None
    recommend: str = "fp32"
    verdict: str = ""
    budget: float = DEFAULT_DROP_BUDGET

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        if self.latency is not None:
            payload["latency"] = {str(k): v for k, v in self.latency.items()}
        return payload


def accuracy_block(fp32: Predictions, int8: Predictions) -> dict[str, Any]:
    """FP32 and INT8 top-1 (percent), their drop (points) and top-1 agreement (percent)."""
    fp32_top1, int8_top1 = fp32.top1(), int8.top1()
    return {
        "fp32_top1": fp32_top1,
        "int8_top1": int8_top1,
        "drop": fp32_top1 - int8_top1,
        "agreement": fp32.agreement(int8),
        "samples": len(fp32.labels),
    }


def measure_speed(
    fp32: Backend,
    int8: Backend,
    frames: torch.Tensor,
    batches: tuple[int, ...] = LATENCY_BATCHES,
    min_time_s: float = 1.0,
) -> dict[int, dict[str, Any]]:
    """Median latency of FP32 vs INT8 per batch size, timed in interleaved rounds.

    Args:
        frames: [0, 1] float pixels (≥ max(batches) images) at the model's input size.
    """
    results = {}
    for batch in batches:
        pixels = frames[:batch]
        if len(pixels) < batch:  # a small val split: repeat images to fill the batch
            pixels = pixels.repeat(-(-batch // len(pixels)), 1, 1, 1)[:batch]
        fp32_in, int8_in = fp32.prepare(pixels), int8.prepare(pixels)
        timed = compare_latency(
            {"fp32": lambda: fp32.run(fp32_in), "int8": lambda: int8.run(int8_in)}, batch, min_time_s=min_time_s
        )
        fp32_ms, int8_ms = timed["fp32"].median_ms, timed["int8"].median_ms
        results[batch] = {
            "fp32_ms": fp32_ms,
            "int8_ms": int8_ms,
            "speedup": fp32_ms / int8_ms if int8_ms > 0 else float("inf"),
        }
    return results


def judge(report: Int8Report) -> Int8Report:
    """Fill `recommend` and `verdict` from the measured figures."""
    drop = report.accuracy.get("val", {}).get("drop", float("nan"))
    if report.target == "tensorrt":
        report.recommend = "measure on target"
        report.verdict = (
            f"TensorRT INT8 (val drop {drop:.2f} pt): its speed is only meaningful on the GPU — build it with "
            "--trt there and "
            "compare with the FP32/FP16 engines (edgekd profile); CPU timings do not apply to it."
        )
        return report
    if not report.latency:
        report.recommend = "fp32"
        report.verdict = (
            "INT8 speed not measured (--no-latency): not presented as a win; keep FP32 until it is measured (val "
            f"drop {drop:.2f} pt)."
        )
        return report
    speed = ", ".join(
        f"batch {b}: INT8 {v['int8_ms']:.2f} ms vs FP32 {v['fp32_ms']:.2f} ms ({v['speedup']:.2f}×)"
        for b, v in report.latency.items()
    )
    faster = {b: v["speedup"] > 1.0 for b, v in report.latency.items()}
    if not any(faster.values()):
        report.recommend = "fp32"
        report.verdict = f"INT8 is not faster than FP32 on this CPU ({speed}): use the FP32 ONNX."
    elif drop != drop or drop > report.budget:
        report.recommend = "fp32"
        report.verdict = (
            f"INT8 loses {drop:.2f} pt of val top-1 (budget {report.budget:g}; try --max-drop): use the FP32 ONNX. "
            f"Speed: {speed}."
        )
    elif not all(faster.values()):
        slow = [str(b) for b, ok in faster.items() if not ok]
        report.recommend = "fp32"
        report.verdict = (
            f"INT8 is faster only at some batch sizes ({speed}); not at batch {', '.join(slow)}: use FP32 there."
        )
    else:
        report.recommend = "int8"
        report.verdict = f"INT8 wins on this CPU: {speed}; val drop {drop:.2f} pt."
    return report
