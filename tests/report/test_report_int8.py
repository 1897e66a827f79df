"""The report's "INT8 vs FP32 student" table: a real `edgekd export --int8` of a trained digits
student, evaluated and profiled, its INT8 lined up against the student it was quantized from;
the gate's `--max-int8-drop-vs-student` reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekd.errors import ConfigError
from edgekd.evaluate import EvalConfig, evaluate
from edgekd.export import ExportConfig, export
from edgekd.gate import GateThresholds, run_gate
from edgekd.profile import ProfileConfig, TimingConfig, profile
from edgekd.report import ReportConfig, build_report, load_report

QUICK = TimingConfig(warmup_ms=10, duration_s=0.15, min_iterations=10)
CALIB = Path(__file__).resolve().parents[2] / "calibration" / "digits-val.yaml"


@pytest.fixture(scope="module")
def ptq_report(artefacts, tmp_path_factory):
    """student.safetensors → `export --int8 --int8-target cpu`; each model evaluated, the ONNX profiled."""
    root = tmp_path_factory.mktemp("int8-report")
    exported = export(
        ExportConfig(
            checkpoint=artefacts.student,
            out=root / "export",
            int8=True,
            int8_target=("cpu",),
            calib=CALIB,
            speed_search=False,
            latency=False,
            threads=1,
        )
    )
    fp32, int8 = exported.get("fp32").path, exported.get("int8", target="cpu").path
    evals = {}
    for path in (artefacts.student, fp32, int8):
        evals[path.name] = evaluate(EvalConfig(artefact=path, out_dir=root / "eval" / path.name)).path
    for path in (fp32, int8):
        profile(
            ProfileConfig(artefact=path, out_dir=root / "profile" / path.name, batches=(1,), threads=1, timing=QUICK)
        )
    built = build_report(ReportConfig(inputs=(artefacts.student, root), out_dir=root / "report"))
    return built, evals, root


def test_the_int8_artefact_is_compared_with_the_student_it_was_quantized_from(ptq_report):
    built, evals, root = ptq_report
    [entry] = built.report.int8_vs_fp32
    assert entry.model == "student.int8-cpu.onnx" and entry.method == "ptq" and entry.precision == "int8"
    assert entry.student == entry.reference == "student.safetensors"  # the student's own eval is the reference
    student = json.loads(evals["student.safetensors"].read_text())
    quantized = json.loads(evals["student.int8-cpu.onnx"].read_text())
    assert entry.student_top1 == student["metrics"]["top1"] and entry.top1 == quantized["metrics"]["top1"]
    assert entry.drop_pts == pytest.approx(entry.student_top1 - entry.top1)
    same = [a == b for a, b in zip(student["predictions"]["predicted"], quantized["predictions"]["predicted"])]
    assert entry.agreement == pytest.approx(100.0 * sum(same) / len(same))


def test_its_latency_is_set_beside_the_students_fp32_onnx(ptq_report):
    built, _, root = ptq_report
    [entry] = built.report.int8_vs_fp32
    timed = {
        name: json.loads((root / "profile" / name / "profile.json").read_text())["batches"][0]["mean_ms"]
        for name in ("student.onnx", "student.int8-cpu.onnx")
    }
    assert entry.batch == 1 and entry.backend == "ort" and entry.threads == 1
    assert entry.mean_ms == timed["student.int8-cpu.onnx"] and entry.fp32_mean_ms == timed["student.onnx"]
    assert entry.speedup == pytest.approx(entry.fp32_mean_ms / entry.mean_ms)


def test_the_table_is_in_every_rendering(ptq_report):
    built, _, _ = ptq_report
    [entry] = load_report(built.json_path).int8_vs_fp32  # validates on reading back
    markdown, html = built.markdown_path.read_text(), built.html_path.read_text()
    assert "## INT8 vs FP32 student" in markdown and "<h2>INT8 vs FP32 student</h2>" in html
    row = next(line for line in markdown.splitlines() if line.startswith("| student.int8-cpu.onnx | int8 |"))
    for cell in (f"{entry.drop_pts:+.2f}", f"{entry.agreement:.2f}", f"{entry.mean_ms:.3f}"):
        assert f"| {cell} |" in row and f"<td>{cell}</td>" in html


def test_the_gate_judges_the_drop_against_that_student(ptq_report):
    built, _, _ = ptq_report
    [entry] = built.report.int8_vs_fp32
    loose = run_gate(built.json_path, GateThresholds(max_int8_drop_vs_student=100))
    [row] = [r for r in loose.rows if r.check == "max_int8_drop_vs_student"]
    assert row.artefact == entry.model and row.status == "pass"
    assert row.measured == pytest.approx(entry.drop_pts, abs=1e-3) and "student.safetensors" in row.detail
    below = entry.drop_pts - 0.5  # a threshold under the measured drop must fail it
    if below >= 0:
        strict = run_gate(built.json_path, GateThresholds(max_int8_drop_vs_student=below))
        assert [r.status for r in strict.rows if r.check == "max_int8_drop_vs_student"] == ["fail"]


def test_the_gate_refuses_the_check_without_an_int8_artefact(ptq_report):
    built, _, _ = ptq_report
    with pytest.raises(ConfigError, match="needs an INT8 artefact"):
        run_gate(built.json_path, GateThresholds(max_int8_drop_vs_student=1, artefacts=["student.safetensors"]))
