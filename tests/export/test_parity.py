"""The parity gate: real students of several architectures, and what a failed gate leaves behind."""

from __future__ import annotations

import pytest
import torch
from export_helpers import DIGITS_SPEC, train_student

from edgekd.engine.metrics import Predictions
from edgekd.errors import CheckFailed
from edgekd.export import ExportConfig, artefacts, export
from edgekd.export.parity import FP16_GATE, FP32_GATE, ParityGate, compare, enforce


def test_compare_counts_agreement_and_the_largest_difference():
    logits = torch.randn(1000, 10)
    labels = logits.argmax(dim=1)
    moved = logits.clone()
    top = moved.argmax(dim=1)
    moved[:3, :] = 0.0
    moved[torch.arange(3), (top[:3] + 1) % 10] = 100.0  # three images change their top-1 class
    report = compare(
        Predictions(logits, labels),
        Predictions(moved, labels),
        FP32_GATE,
        names=("torch fp32", "onnx fp32"),
        split="val",
    )
    assert report.samples == 1000 and report.agreement == pytest.approx(99.7)
    assert report.max_abs_diff >= 90 and not report.passed
    with pytest.raises(CheckFailed, match="parity failed: onnx fp32 vs torch fp32 on 1000 val images: agreement 99.70"):
        enforce(report)
    assert compare(
        Predictions(logits, labels), Predictions(logits + 5e-4, labels), FP32_GATE, names=("a", "b"), split="val"
    ).passed
    assert not compare(
        Predictions(logits, labels), Predictions(logits + 2e-3, labels), FP32_GATE, names=("a", "b"), split="val"
    ).passed
    assert compare(
        Predictions(logits, labels), Predictions(logits + 2e-3, labels), FP16_GATE, names=("a", "b"), split="val"
    ).passed


def test_a_flip_on_a_near_tie_is_rounding_and_a_flip_on_a_clear_lead_is_not():
    # Which way a near tie falls depends on the CPU's summation order; a clear lead never flips by rounding.
    logits = torch.randn(150, 10)
    top = logits.argmax(dim=1)
    tied = logits.clone()
    tied[0, (top[0] + 1) % 10] = tied[0, top[0]] - 1e-6  # image 0: the runner-up trails by 1e-6
    labels = tied.argmax(dim=1)
    reference = Predictions(tied, labels)
    swapped = tied.clone()
    swapped[0, (top[0] + 1) % 10] = tied[0, top[0]] + 1e-6  # the candidate rounds the other way
    report = compare(reference, Predictions(swapped, labels), FP16_GATE, names=("torch", "onnx fp16"), split="val")
    assert report.agreement < FP16_GATE.min_agreement and report.near_tie_flips == 1
    assert report.gated_agreement == 100.0 and report.passed and "1 near-tie flip(s) excused" in report.line()
    clear = swapped.clone()
    clear[1, (top[1] + 1) % 10] = clear[1].abs().max() * 3  # image 1 changes class although it led clearly
    report = compare(reference, Predictions(clear, labels), FP16_GATE, names=("torch", "onnx fp16"), split="val")
    assert report.near_tie_flips == 1 and not report.passed


def test_a_failed_gate_exits_1_and_writes_nothing(student, tmp_path, run_cli, monkeypatch):
    # The real ONNX differs from PyTorch by ~1e-5; a zero tolerance must fail the real comparison.
    monkeypatch.setattr(artefacts, "FP32_GATE", ParityGate(min_agreement=100.0, max_abs_diff=0.0))
    out = tmp_path / "out"
    result = run_cli("export", student, "--out", out, "--exporter", "torchscript", "--int8", "--calib", DIGITS_SPEC)
    assert result.code == 1, result.stderr
    assert "parity failed" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize(
    "arch",
    [
        "mobilenetv3_small_050",
        pytest.param("efficientnet_b0", marks=pytest.mark.slow),
        pytest.param("test_vit", marks=pytest.mark.slow),
    ],
)
def test_trained_students_of_several_architectures_pass_fp32_and_fp16(arch, tmp_path):
    weights = train_student(tmp_path / arch, arch, img_size=32, epochs=1)
    result = export(ExportConfig(weights, tmp_path / "export", fp16=True))
    fp32, fp16 = result.get("fp32").parity, result.get("fp16").parity
    assert fp32.passed and fp32.max_abs_diff <= 1e-3 and fp32.gated_agreement >= 99.9
    assert fp16.passed and fp16.gated_agreement >= 99.5
