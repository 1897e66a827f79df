"""The gate as a specification: every threshold, skips stated, refusals for bad input, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from gate_reports import latency, standard_models

from edgekd.errors import ConfigError
from edgekd.gate import GateThresholds, run_gate


def rows_of(result, check):
    return {(row.artefact, row.backend, row.batch): row for row in result.rows if row.check == check}


def test_drop_vs_teacher_is_checked_on_every_deployable_artefact(reports):
    report = reports.write("r", standard_models(reports))
    result = run_gate(report, GateThresholds(max_drop_vs_teacher=5.5))
    rows = {row.artefact: row for row in result.rows}
    assert set(rows) == {"student", "student-onnx", "student-int8"}  # the teacher is not deployed
    assert rows["student"].measured == pytest.approx(5.0) and rows["student"].status == "pass"
    assert rows["student-int8"].measured == pytest.approx(6.0) and rows["student-int8"].status == "fail"
    assert "McNemar p=" in rows["student-int8"].detail  # paired statistics come with every drop
    assert not result.passed


def test_significance_fails_a_drop_only_when_the_data_show_it(reports):
    # 3 more errors than the teacher in 600 samples: 0.5 pts above a 0-pt budget, but noise.
    report = reports.write("r", standard_models(reports, student_errors=33, int8_errors=90))
    point = run_gate(report, GateThresholds(max_drop_vs_teacher=0.0))
    assert rows_of(point, "max_drop_vs_teacher")[("student", "torch", None)].status == "fail"
    paired = run_gate(report, GateThresholds(max_drop_vs_teacher=0.0, significance=True))
    rows = rows_of(paired, "max_drop_vs_teacher")
    assert (
        rows[("student", "torch", None)].status == "pass"
        and "not significantly" in rows[("student", "torch", None)].detail
    )
    assert rows[("student-int8", "ort", None)].status == "fail"  # 10 pts is real


def test_significance_without_per_sample_predictions_is_refused(reports):
    report = reports.write("r", standard_models(reports), with_samples=False)
    assert run_gate(report, GateThresholds(max_drop_vs_teacher=10)).passed
    with pytest.raises(ConfigError, match="per-sample predictions"):
        run_gate(report, GateThresholds(max_drop_vs_teacher=10, significance=True))


def test_worst_class_drop_names_the_class(reports):
    models = standard_models(reports)
    wrong = reports.mask(0)
    wrong[reports.labels == 3] = True  # the student forgets class 3 entirely
    models[1]["wrong"] = wrong
    report = reports.write("r", models)
    row = rows_of(run_gate(report, GateThresholds(max_class_drop=20, artefacts=["student"])), "max_class_drop")[
        ("student", "torch", None)
    ]
    assert row.status == "fail" and "digit3" in row.detail and row.measured > 90


def test_agreement_size_and_artefact_selection_by_name_and_role(reports):
    report = reports.write("r", standard_models(reports))
    result = run_gate(report, GateThresholds(min_agreement=91, max_size_mb=2, artefacts=["artefact"]))
    agreement = rows_of(result, "min_agreement")
    assert set(a for a, _, _ in agreement) == {"student-onnx", "student-int8"}
    assert agreement[("student-onnx", "ort", None)].status == "pass"  # 60 errors ⊇ the teacher's 30: 95 % agreement
    assert agreement[("student-int8", "ort", None)].status == "pass"
    size = rows_of(result, "max_size_mb")
    assert size[("student-onnx", "ort", None)].status == "fail" and size[
        ("student-int8", "ort", None)
    ].measured == pytest.approx(1.2)
    with pytest.raises(ConfigError, match="matches nothing.*student-int8"):
        run_gate(report, GateThresholds(max_size_mb=2, artefacts=["student-int4"]))


def test_latency_rows_name_backend_device_and_batch(reports):
    report = reports.write("r", standard_models(reports))
    result = run_gate(report, GateThresholds(max_p99_ms=3.0, batch=32))
    rows = rows_of(result, "max_p99_ms")
    assert rows[("student-onnx", "ort", 32)].status == "fail" and rows[("student-int8", "ort", 32)].status == "pass"
    skipped = rows[("student", "torch", 32)]
    assert skipped.status == "skip" and "not profiled at batch 32 (profiled: 1)" in skipped.detail
    assert all(row.device == "cpu" for row in result.rows)


def test_speedup_compares_with_the_teachers_fastest_backend_on_the_same_device(reports):
    report = reports.write("r", standard_models(reports))
    rows = rows_of(run_gate(report, GateThresholds(min_speedup=10)), "min_speedup")
    # means: teacher 3.5 ms (torch), ONNX student 0.325 ms, PyTorch student 1.75 ms
    assert (
        rows[("student-onnx", "ort", 1)].measured == pytest.approx(3.5 / 0.325)
        and rows[("student-onnx", "ort", 1)].status == "pass"
    )
    assert (
        rows[("student", "torch", 1)].measured == pytest.approx(2.0) and rows[("student", "torch", 1)].status == "fail"
    )


def test_a_threshold_that_applies_to_nothing_is_refused(reports):
    report = reports.write("r", standard_models(reports))
    with pytest.raises(ConfigError, match="could not be checked.*not profiled at batch 8"):
        run_gate(report, GateThresholds(max_p99_ms=1, batch=8))
    with pytest.raises(ConfigError, match="no threshold set"):
        run_gate(report, GateThresholds())


def test_baseline_checks_need_a_baseline_and_the_same_machine(reports):
    current = reports.write("now", standard_models(reports))
    older = standard_models(reports, student_errors=54, int8_errors=60)
    older[2]["latency"] = [latency(1, 0.2, 0.3, "ort")]
    baseline = reports.write("last", older)
    with pytest.raises(ConfigError, match="--baseline"):
        run_gate(current, GateThresholds(max_drop_vs_baseline=1))
    result = run_gate(current, GateThresholds(max_drop_vs_baseline=0.5, max_p99_increase_vs_baseline=20), baseline)
    drops = rows_of(result, "max_drop_vs_baseline")
    assert (
        drops[("student", "torch", None)].measured == pytest.approx(1.0)
        and drops[("student", "torch", None)].status == "fail"
    )
    slower = rows_of(result, "max_p99_increase_vs_baseline")[("student-onnx", "ort", 1)]
    assert slower.measured == pytest.approx(100 * (0.4 / 0.3 - 1)) and slower.status == "fail"

    foreign = reports.write("elsewhere", standard_models(reports, machine="machine-b"))
    with pytest.raises(ConfigError, match="same machine.*--allow-foreign-baseline"):
        run_gate(foreign, GateThresholds(max_p99_increase_vs_baseline=20), baseline)
    allowed = run_gate(
        foreign, GateThresholds(max_p99_increase_vs_baseline=20, max_size_mb=50, allow_foreign_baseline=True), baseline
    )
    skipped = [row for row in allowed.rows if row.check == "max_p99_increase_vs_baseline"]
    assert skipped and all(row.status == "skip" for row in skipped) and "allow-foreign-baseline" in skipped[0].detail
    assert allowed.passed


def test_a_file_that_is_not_a_report_is_refused(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({"models": []}))
    with pytest.raises(ConfigError, match="schema None"):
        run_gate(tmp_path, GateThresholds(max_size_mb=1))
    with pytest.raises(ConfigError, match="report not found"):
        run_gate(tmp_path / "nope.json", GateThresholds(max_size_mb=1))


def test_cli_fails_with_exit_1_and_writes_markdown_and_junit(reports, run_cli, tmp_path):
    report = reports.write("r", standard_models(reports))
    junit = tmp_path / "ci" / "gate.xml"
    result = run_cli("gate", report, "--max-drop-vs-teacher", "5.5", "--max-p99-ms", "2.5", "--junit", junit)
    assert result.code == 1, result.stderr
    assert "GATE FAILED" in result.stdout and "student-int8" in result.stderr and "Traceback" not in result.stderr
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuites" and suite.get("failures") == "1" and suite.get("tests") == "6"
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [case.get("classname") for case in failed] == ["gate.student-int8"]
    markdown = (report.parent / "gate.md").read_text()
    assert (
        "❌ **Gate failed**" in markdown
        and "| top-1 drop vs teacher | student-int8 | ort | cpu | - | 6.00 pts | ≤ 5.50 pts | ❌ FAIL |" in markdown
    )
    verdict = json.loads((report.parent / "gate.json").read_text())
    assert verdict["passed"] is False and verdict["counts"] == {"pass": 5, "fail": 1, "skip": 0}


def test_cli_passes_with_exit_0(reports, run_cli, tmp_path):
    report = reports.write("r", standard_models(reports))
    result = run_cli("gate", report, "--max-drop-vs-teacher", "7", "--min-speedup", "1.5", "--out", tmp_path / "g")
    assert result.code == 0, result.stderr
    assert "GATE PASSED" in result.stdout and (tmp_path / "g" / "gate.md").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-size-mb", "-1"], "--max-size-mb"),
        (["--max-drop-vs-baseline", "1"], "--baseline"),
        ([], "no threshold set"),
    ],
)
def test_cli_bad_input_exits_2_in_one_line(reports, run_cli, args, message):
    report = reports.write("r", standard_models(reports))
    result = run_cli("gate", report, *args)
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_cli_reads_thresholds_from_a_pipeline_and_flags_override_them(reports, run_cli, tmp_path):
    report = reports.write("r", standard_models(reports))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "name: p\nteacher: {arch: resnet18}\neval: {}\nreport: {}\ngate:\n  max_drop_vs_teacher: 5.5\n  "
        "artefacts: [artefact]\n"
    )
    from_yaml = run_cli("gate", report, "--pipeline", pipeline)
    assert from_yaml.code == 1 and "student-int8" in from_yaml.stderr
    rows = json.loads((report.parent / "gate.json").read_text())["rows"]
    assert {row["artefact"] for row in rows} == {"student-onnx", "student-int8"}  # artefacts: [artefact]
    overridden = run_cli("gate", report, "--pipeline", pipeline, "--max-drop-vs-teacher", "7")
    assert overridden.code == 0, overridden.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: p\nteacher: {arch: resnet18}\neval: {}\nreport: {}\ngate:\n  max_drop: 5\n")
    refused = run_cli("gate", report, "--pipeline", bad)
    assert refused.code == 2 and f"{bad}:6: unknown key 'gate.max_drop'" in refused.stderr
