"""What distillation bought: each distilled student beside the same recipe and seed trained alone.

A pipeline's `distill: methods: [kd, none]` trains both; `none` is the student alone. Every
other student whose recipe key (`sources.recipe_key`: arch, data, seed) matches exactly one
student-alone run gets its gain (test top-1 points, as both cards record it) and the share of
the teacher–student gap that gain closes.
"""

from __future__ import annotations

from typing import Any

from edgekd.report.schema import Distillation

ALONE_METHOD = "none"


def _teacher_top1(entry: Distillation) -> float | None:
    if entry.ensemble_top1 is not None:
        return entry.ensemble_top1
    return entry.teachers[0].top1 if len(entry.teachers) == 1 else None


def with_gain_vs_alone(entries: list[tuple[tuple[Any, ...], Distillation]]) -> list[Distillation]:
    """The entries (recipe key, facts), each distilled one with its `alone` twin and gain filled in."""
    alone: dict[tuple[Any, ...], list[Distillation]] = {}
    for key, entry in entries:
        if entry.method == ALONE_METHOD:
            alone.setdefault(key, []).append(entry)
    result = []
    for key, entry in entries:
        twins = alone.get(key, [])
        twin_top1 = twins[0].student_top1 if len(twins) == 1 else None
        if entry.method != ALONE_METHOD and entry.student_top1 is not None and twin_top1 is not None:
            twin = twins[0]
            gain = entry.student_top1 - twin_top1
            teacher = _teacher_top1(entry)
            gap = None if teacher is None or teacher <= twin_top1 else 100.0 * gain / (teacher - twin_top1)
            entry = entry.model_copy(update={"alone": twin.model, "gain_vs_alone_pts": gain, "gap_closed_pct": gap})
        result.append(entry)
    return result
