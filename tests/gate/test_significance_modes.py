"""`--significance-mode`: inferiority (fail only a drop proven too large) vs non-inferiority
(pass only a drop proven small enough), on real paired predictions of digits labels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from gate_reports import ReportWriter, standard_models

from edgekd.errors import ConfigError
from edgekd.gate import GateThresholds, run_gate
from edgekd.gate.stats import paired_drop, tango_statistic


def small_report(tmp_path, teacher_errors: int, student_errors: int, n: int = 40):
    """Teacher and student on the first `n` digits; the student's errors include the teacher's."""
    writer = ReportWriter(tmp_path, n=n)
    models = [
        {"name": "teacher", "role": "teacher", "format": "torch", "wrong": writer.mask(teacher_errors)},
        {"name": "student", "role": "student", "format": "torch", "wrong": writer.mask(student_errors)},
    ]
    return writer.write(f"n{n}-t{teacher_errors}-s{student_errors}", models)


def verdict(report, mode: str | None, threshold: float = 5.0):
    thresholds = GateThresholds(max_drop_vs_teacher=threshold, significance=mode is not None, significance_mode=mode)
    (row,) = run_gate(report, thresholds).rows
    return row


def test_a_large_drop_on_a_small_test_set_passes_inferiority_and_fails_non_inferiority(tmp_path):
    # 40 images, 3 more errors than the teacher: 7.5 points over a 5-point budget.
    report = small_report(tmp_path, teacher_errors=2, student_errors=5)
    point, inferiority, non_inferiority = (
        verdict(report, None),
        verdict(report, "inferiority"),
        verdict(report, "non-inferiority"),
    )
    assert point.measured == pytest.approx(7.5) and point.status == "fail"
    assert (
        inferiority.status == "pass" and "not significantly" in inferiority.detail
    )  # 3 discordant pairs prove nothing
    assert non_inferiority.status == "fail" and "above the threshold" in non_inferiority.detail


def test_non_inferiority_fails_even_a_drop_within_the_threshold_that_the_data_cannot_vouch_for(tmp_path):
    # 1 more error in 40 (2.5 points, within 5): fine by the point estimate, but 40 images cannot
    # rule out a 5-point drop.
    report = small_report(tmp_path, teacher_errors=2, student_errors=3)
    assert verdict(report, None).status == "pass" and verdict(report, "inferiority").status == "pass"
    row = verdict(report, "non-inferiority")
    assert row.status == "fail" and "not provably" in row.detail


def test_on_a_large_test_set_a_small_drop_passes_both_modes(reports):
    # 600 images, 3 more errors (0.5 points) against a 3-point budget: the upper bound is within it.
    report = reports.write("r", standard_models(reports, student_errors=33, int8_errors=90))
    thresholds = dict(max_drop_vs_teacher=3.0, artefacts=["student"])
    for mode in ("inferiority", "non-inferiority"):
        (row,) = run_gate(report, GateThresholds(**thresholds, significance_mode=mode)).rows
        assert row.status == "pass", (mode, row.detail)
    (int8,) = run_gate(
        report, GateThresholds(max_drop_vs_teacher=3.0, artefacts=["student-int8"], significance_mode="non-inferiority")
    ).rows
    assert int8.status == "fail"  # 10 points is above in any mode


def test_non_inferiority_is_judged_class_by_class(reports):
    report = reports.write("r", standard_models(reports, student_errors=33))
    loose = GateThresholds(max_class_drop=40.0, artefacts=["student"], significance_mode="non-inferiority")
    assert run_gate(report, loose).passed
    # ~60 images a class cannot vouch for a drop of at most 1 point in every class.
    (row,) = run_gate(
        report, GateThresholds(max_class_drop=1.0, artefacts=["student"], significance_mode="non-inferiority")
    ).rows
    assert row.status == "fail" and "not provably within the threshold in" in row.detail


def test_score_bound_is_mcnemars_z_at_zero_and_honest_without_disagreement():
    for b, c in [(3, 0), (9, 1), (20, 10)]:
        assert tango_statistic(0.0, b, c, 200) == pytest.approx((b - c) / math.sqrt(b + c))
    identical = paired_drop(np.ones(20, bool), np.ones(20, bool))
    # The exact bounds given 0 discordant pairs collapse to 0; the score bound does not, because
    # 20 images could easily miss a 10-point drop.
    assert identical.upper_pts == 0.0 and identical.score_upper_pts > 10.0
    big = paired_drop(np.ones(600, bool), np.r_[np.zeros(3, bool), np.ones(597, bool)])
    assert big.drop_pts < big.score_upper_pts < 1.5


def test_score_upper_bound_covers_the_true_drop_at_its_level():
    """Seeded simulation: the 95 % one-sided bound lies above the true drop in ~95 % of test sets."""
    rng = np.random.default_rng(0)
    n, p_b, p_c = 40, 0.10, 0.02
    counts = rng.multinomial(n, [p_b, p_c, 1 - p_b - p_c], size=1500)
    covered = []
    for b, c, same in counts:
        reference = np.r_[np.ones(b, bool), np.zeros(c, bool), np.ones(same, bool)]
        candidate = np.r_[np.zeros(b, bool), np.ones(c, bool), np.ones(same, bool)]
        covered.append(paired_drop(reference, candidate).score_upper_pts >= 100 * (p_b - p_c))
    assert 0.93 <= np.mean(covered) <= 0.99


def test_cli_mode_flag_pipeline_key_and_refusals(tmp_path, run_cli):
    report = small_report(tmp_path, teacher_errors=2, student_errors=5)
    lenient = run_cli("gate", report, "--max-drop-vs-teacher", "5", "--significance")
    assert lenient.code == 0, lenient.stderr
    strict = run_cli("gate", report, "--max-drop-vs-teacher", "5", "--significance-mode", "non-inferiority")
    assert strict.code == 1 and "student" in strict.stderr
    recorded = json.loads((report.parent / "gate.json").read_text())["thresholds"]
    assert recorded["significance"] is True and recorded["significance_mode"] == "non-inferiority"

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "name: p\nteacher: {arch: resnet18}\neval: {}\nreport: {}\ngate:\n  max_drop_vs_teacher: 5\n  "
        "significance_mode: non-inferiority\n"
    )
    assert run_cli("gate", report, "--pipeline", pipeline).code == 1
    assert run_cli("gate", report, "--pipeline", pipeline, "--point-estimates", "--max-drop-vs-teacher", "8").code == 0

    for args, message in [
        (["--significance-mode", "maybe"], "--significance-mode: Input should be 'inferiority' or 'non-inferiority'"),
        (["--point-estimates", "--significance-mode", "non-inferiority"], "significance is off"),
    ]:
        (report.parent / "gate.json").unlink(missing_ok=True)
        result = run_cli("gate", report, "--max-drop-vs-teacher", "5", *args)
        assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not (report.parent / "gate.json").exists()


def test_a_mode_with_significance_off_is_refused_in_the_api():
    with pytest.raises(ConfigError, match="significance is off"):
        GateThresholds().merged({"significance": False, "significance_mode": "non-inferiority"})
