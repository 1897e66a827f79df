"""Seed statistics (bench and report): the "beats the student alone" rule and the gap a method closes."""

from __future__ import annotations

import pytest

from edgekd.seed_stats import compare_to_alone


def test_a_steady_gain_over_three_seeds_beats_the_student_alone():
    stats = compare_to_alone([83.0, 84.0, 85.0], [80.0, 81.0, 82.0], teacher_top1=90.0)
    assert stats["mean"] == pytest.approx(84.0) and stats["std"] == pytest.approx(1.0)
    assert stats["gain_mean"] == pytest.approx(3.0) and stats["gain_std"] == pytest.approx(0.0)
    assert stats["beats_alone"] and stats["rule_applies"]
    assert stats["gap_closed"] == pytest.approx(3.0 / 9.0)


def test_a_gain_smaller_than_its_paired_noise_does_not_beat():
    stats = compare_to_alone([81.0, 80.0, 81.5], [80.0, 81.0, 81.0], teacher_top1=90.0)
    assert stats["gain_mean"] == pytest.approx(0.5 / 3)
    assert stats["gain_std"] > stats["gain_mean"] and not stats["beats_alone"]


def test_fewer_than_three_seeds_never_claim_a_win():
    stats = compare_to_alone([85.0, 86.0], [80.0, 80.5], teacher_top1=90.0)
    assert not stats["rule_applies"] and not stats["beats_alone"] and stats["seeds"] == 2


def test_gap_closed_is_undefined_without_a_gap():
    assert compare_to_alone([80.0], [81.0], teacher_top1=79.0)["gap_closed"] is None
    assert compare_to_alone([80.0], [81.0], teacher_top1=None)["gap_closed"] is None


def test_only_claimed_recipes_are_held_to_the_rule():
    from edgekd.bench.runner import _targets

    losing = compare_to_alone([79.0, 80.0, 81.0], [80.0, 81.0, 82.0], teacher_top1=90.0)
    students = {
        "alone": {
            "label": "alone",
            "method": "none",
            "claim": True,
            "stats": compare_to_alone([80.0, 81.0, 82.0], [80.0, 81.0, 82.0], 90.0),
        },
        "kd": {"label": "kd", "method": "kd", "claim": True, "stats": losing},
        "kd-textbook": {"label": "textbook", "method": "kd", "claim": False, "stats": losing},
    }
    targets = _targets({"students": students, "speed": None, "deploy": None})
    assert [t["status"] for t in targets if "vs alone" in t["line"]] == ["MISS", "INFO"]


def _recipe(name: str, method: str, top1: list[float], alone: list[float]) -> dict:
    return {
        "label": name,
        "method": method,
        "claim": True,
        "runs": [{"test_top1": t} for t in top1],
        "stats": compare_to_alone(top1, alone, teacher_top1=90.0),
    }


def test_the_best_recipe_is_held_to_the_protocols_gap_target_and_must_beat_kd():
    from edgekd.bench.runner import _gap_targets

    alone = [80.0, 81.0, 82.0]  # gap to the teacher: 9 points
    students = {
        "alone": _recipe("alone", "none", alone, alone),
        "kd": _recipe("kd", "kd", [82.0, 83.0, 84.0], alone),  # 2/9 of the gap
        "dist": _recipe("dist", "dist", [85.0, 85.5, 86.5], alone),  # 4.67/9 = 52 %
    }
    gap, versus = _gap_targets({"config": {"protocol": "short"}, "students": students})
    assert gap["status"] == "PASS" and "dist" in gap["line"] and "52%" in gap["line"]
    assert versus["status"] == "PASS" and "+2.67" in versus["line"]
    # the long protocol asks for 60 % of the gap: the same figures miss it
    assert _gap_targets({"config": {"protocol": "long"}, "students": students})[0]["status"] == "MISS"


def test_a_best_recipe_inside_kds_paired_noise_does_not_beat_kd():
    from edgekd.bench.runner import _gap_targets

    alone = [80.0, 81.0, 82.0]
    students = {
        "alone": _recipe("alone", "none", alone, alone),
        "kd": _recipe("kd", "kd", [85.0, 84.0, 86.0], alone),
        "dist": _recipe("dist", "dist", [84.0, 86.0, 85.5], alone),  # paired diffs -1, +2, -0.5
    }
    versus = _gap_targets({"config": {"protocol": "short"}, "students": students})[1]
    assert versus["status"] == "MISS"
