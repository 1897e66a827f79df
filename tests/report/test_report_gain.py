"""What distillation bought: a distilled student beside the same recipe and seed trained alone."""

from __future__ import annotations

from edgekd.report.gain import with_gain_vs_alone
from edgekd.report.schema import Distillation, Report, TeacherFacts
from edgekd.report.tables import distillation_table


def entry(model: str, method: str, top1: float, teacher: float = 90.0) -> Distillation:
    return Distillation(
        model=model, method=method, teachers=[TeacherFacts(arch="resnet18", top1=teacher)], student_top1=top1
    )


def test_gain_and_gap_closed_pair_only_the_same_recipe_and_seed():
    recipe, other_seed = ("mobilenetv3", "fp", 0), ("mobilenetv3", "fp", 1)
    entries = [
        (recipe, entry("kd", "kd", 84.0)),
        (recipe, entry("alone", "none", 80.0)),
        (other_seed, entry("kd-s1", "kd", 85.0)),
    ]
    kd, alone, unpaired = with_gain_vs_alone(entries)
    assert (
        kd.alone == "alone" and kd.gain_vs_alone_pts == 4.0 and kd.gap_closed_pct == 40.0
    )  # 4 of the teacher's 10-point lead
    assert alone.alone is None and alone.gain_vs_alone_pts is None
    assert unpaired.alone is None  # seed 1 has no student-alone run to compare with


def test_no_gap_closed_when_the_student_alone_already_matches_the_teacher():
    recipe = ("a", "b", 0)
    (kd, _) = with_gain_vs_alone(
        [(recipe, entry("kd", "kd", 91.0)), (recipe, entry("alone", "none", 92.0, teacher=90.0))]
    )
    assert kd.gain_vs_alone_pts == -1.0 and kd.gap_closed_pct is None


def test_the_distillation_table_shows_gain_and_gap_closed():
    recipe = ("a", "b", 0)
    paired = with_gain_vs_alone([(recipe, entry("kd", "kd", 84.0)), (recipe, entry("alone", "none", 80.0))])
    report = Report(created="now", title="t", system={}, models=[], distillation=paired)
    table = distillation_table(report)
    row = dict(zip(table.headers, table.rows[0]))
    assert row["gain vs alone (pts)"] == "+4.00 (alone)" and row["gap closed"] == "40 %"
