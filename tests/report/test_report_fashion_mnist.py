"""Acceptance on Fashion-MNIST: teacher, student, its ONNX and INT8 → eval + profile → one report whose
JSON, Markdown and HTML agree, with the ONNX and PyTorch students scoring the same."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from trained_artefacts import build_artefacts

from edgekd.data import DataConfig
from edgekd.data.dataset import FASHION_MNIST_DIRS
from edgekd.evaluate import EvalConfig, evaluate
from edgekd.profile import ProfileConfig, TimingConfig, profile
from edgekd.report import ReportConfig, build_report

FOLDERS = [Path(os.environ["EDGEKD_DATA_DIR"])] if os.environ.get("EDGEKD_DATA_DIR") else []
needs_fashion_mnist = pytest.mark.skipif(
    not any((d / "train-images-idx3-ubyte.gz").exists() for d in [*FOLDERS, *FASHION_MNIST_DIRS]),
    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist (make test does this)",
)


@pytest.mark.slow
@needs_fashion_mnist
def test_fashion_mnist_report_end_to_end(tmp_path):
    runs = build_artefacts(
        tmp_path / "runs", DataConfig(spec="fashion-mnist", limit_train=1000, val_size=1000), epochs=1
    )
    teacher_eval = evaluate(EvalConfig(artefact=runs.teacher))
    evals = {"teacher": teacher_eval.payload}
    for role, path in (("student", runs.student), ("onnx", runs.student_onnx), ("int8", runs.student_int8)):
        evals[role] = evaluate(EvalConfig(artefact=path, teacher=teacher_eval.path)).payload
    for path in (runs.teacher, runs.student, runs.student_onnx, runs.student_int8):
        profile(ProfileConfig(artefact=path, batches=(1, 32), timing=TimingConfig(warmup_ms=20, duration_s=0.3)))

    assert evals["onnx"]["data"]["count"] == 10000 and evals["onnx"]["data"]["spec"] == "fashion-mnist"
    agreement = (
        sum(
            a == b
            for a, b in zip(evals["student"]["predictions"]["predicted"], evals["onnx"]["predictions"]["predicted"])
        )
        / 10000
    )
    assert agreement >= 0.999 and abs(evals["onnx"]["metrics"]["top1"] - evals["student"]["metrics"]["top1"]) <= 0.1

    result = build_report(ReportConfig(inputs=(runs.root,), out_dir=tmp_path / "report", teacher=runs.teacher))
    payload = json.loads(result.json_path.read_text())
    markdown, html = result.markdown_path.read_text(), result.html_path.read_text()
    assert {m["role"] for m in payload["models"]} == {"teacher", "student", "artefact"} and len(payload["models"]) == 4
    for model in payload["models"]:
        assert model["accuracy"]["count"] == 10000 and len(model["latency"]) == 2
        top1 = f"{model['accuracy']['top1']:.2f}"
        assert f"| {top1} |" in markdown and f"<td>{top1}</td>" in html
        for entry in model["latency"]:
            assert entry["throughput_img_s"] == pytest.approx(entry["batch"] * 1000 / entry["mean_ms"], rel=0.05)
            assert f"| {entry['p99_ms']:.3f} |" in markdown and f"<td>{entry['p99_ms']:.3f}</td>" in html
    assert payload["class_names"][0] == "T-shirt/top" and "T-shirt/top" in html
