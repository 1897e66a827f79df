"""The parity gate: real students of several architectures, and what a failed gate leaves behind."""

from __future__ import annotations

import pytest
import torch

from edgekd.engine.metrics import Predictions
from edgekd.errors import CheckFailed
from edgekd.export import ExportConfig, export
from edgekd.export import stage
from edgekd.export.parity import FP16_GATE, FP32_GATE, ParityGate, compare, enforce

from export_helpers import DIGITS_SPEC, train_student


def test_compare_counts_agreement_and_the_largest_difference():
    logits = torch.randn(1000, 10)
    labels = logits.argmax(dim=1)
    moved = logits.clone()
    top = moved.argmax(dim=1)
    moved[:3, :] = 0.0
    moved[torch.arange(3), (top[:3] + 1) % 10] = 100.0  # three images change their top-1 class
    report = compare(Predictions(logits, labels), Predictions(moved, labels), FP32_GATE, names=("torch fp32", "onnx fp32"), split="val")
    assert report.samples == 1000 and report.agreement == pytest.approx(99.7)
    assert report.max_abs_diff >= 90 and not report.passed
    with pytest.raises(CheckFailed, match="parity failed: onnx fp32 vs torch fp32 on 1000 val images: agreement 99.70"):
        enforce(report)
    assert compare(Predictions(logits, labels), Predictions(logits + 5e-4, labels), FP32_GATE, names=("a", "b"), split="val").passed
    assert not compare(Predictions(logits, labels), Predictions(logits + 2e-3, labels), FP32_GATE, names=("a", "b"), split="val").passed
    assert compare(Predictions(logits, labels), Predictions(logits + 2e-3, labels), FP16_GATE, names=("a", "b"), split="val").passed


def test_a_failed_gate_exits_1_and_writes_nothing(student, tmp_path, run_cli, monkeypatch):
    # The real ONNX differs from PyTorch by ~1e-5; a zero tolerance must fail the real comparison.
    monkeypatch.setattr(stage, "FP32_GATE", ParityGate(min_agreement=100.0, max_abs_diff=0.0))
    out = tmp_path / "out"
    result = run_cli("export", student, "--out", out, "--exporter", "torchscript", "--int8", "--calib", DIGITS_SPEC)
    assert result.code == 1, result.stderr
    assert "parity failed" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("arch", ["mobilenetv3_small_050", pytest.param("efficientnet_b0", marks=pytest.mark.slow), pytest.param("test_vit", marks=pytest.mark.slow)])
def test_trained_students_of_several_architectures_pass_fp32_and_fp16(arch, tmp_path):
    weights = train_student(tmp_path / arch, arch, img_size=32, epochs=1)
    result = export(ExportConfig(weights, tmp_path / "export", fp16=True))
    fp32, fp16 = result.get("fp32").parity, result.get("fp16").parity
    assert fp32.passed and fp32.max_abs_diff <= 1e-3 and fp32.agreement >= 99.9
    assert fp16.passed and fp16.agreement >= 99.5
