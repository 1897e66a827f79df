"""The benchmark's statistics: the "beats the student alone" rule and the gap a method closes."""

from __future__ import annotations

import pytest

from edgekd.bench.stats import compare_to_alone


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
    statuses = [t["status"] for t in _targets({"students": students, "speed": None, "deploy": None})]
    assert statuses == ["MISS", "INFO"]
