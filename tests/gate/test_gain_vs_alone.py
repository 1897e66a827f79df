"""`--min-gain-vs-alone`: the distilled student against the same recipe trained alone, paired on the same test
images."""

from __future__ import annotations

import json

import pytest
from gate_reports import standard_models

from edgekd.errors import ConfigError
from edgekd.gate import GateThresholds, run_gate


def with_alone(reports, alone_errors: int, *, offset: int = 0):
    """The standard report (student: 60 of 600 wrong) plus a student alone, paired in distillation[]."""
    models = standard_models(reports)
    models.insert(
        2, {"name": "alone", "role": "student", "format": "torch", "wrong": reports.mask(alone_errors, offset)}
    )
    path = reports.write("r", models)
    payload = json.loads(path.read_text())
    payload["distillation"] = [
        {"model": "student", "method": "kd", "alone": "alone"},
        {"model": "alone", "method": "none"},
    ]
    path.write_text(json.dumps(payload))
    return path


def test_gain_is_measured_on_the_paired_test_images(reports):
    report = with_alone(reports, alone_errors=90)  # alone 85 %, distilled 90 %: +5 points
    (row,) = run_gate(report, GateThresholds(min_gain_vs_alone=4)).rows
    assert (
        row.artefact == "student"
        and row.measured == pytest.approx(5.0)
        and row.status == "pass"
        and "(alone)" in row.detail
    )
    (row,) = run_gate(report, GateThresholds(min_gain_vs_alone=6)).rows
    assert row.status == "fail" and row.bound == "min"


def test_with_significance_a_small_gain_is_judged_by_its_bounds(reports):
    # +1 point on 600 images from 36 images only the distilled student gets right and 30 only the
    # student alone gets right: above a 0.5 minimum as a point estimate, not provably so.
    report = with_alone(reports, alone_errors=66, offset=30)
    assert run_gate(report, GateThresholds(min_gain_vs_alone=0.5)).rows[0].status == "pass"
    proved = run_gate(report, GateThresholds(min_gain_vs_alone=0.5, significance_mode="non-inferiority")).rows[0]
    assert proved.status == "fail" and "not provably" in proved.detail
    # Inferiority: a shortfall fails only when the data show it; the +1 point is not shown to be below a 2-point
    # minimum.
    lenient = run_gate(report, GateThresholds(min_gain_vs_alone=2, significance=True)).rows[0]
    assert lenient.status == "pass" and "not significantly" in lenient.detail


def test_a_report_without_a_student_alone_is_refused(reports):
    report = reports.write("r", standard_models(reports))
    with pytest.raises(ConfigError, match="methods: \\[kd, none\\]"):
        run_gate(report, GateThresholds(min_gain_vs_alone=1))


def test_cli_flag_fails_with_exit_1(reports, run_cli):
    report = with_alone(reports, alone_errors=62)
    result = run_cli("gate", report, "--min-gain-vs-alone", "1")
    assert result.code == 1 and "student (top-1 gain vs student alone)" in result.stderr
