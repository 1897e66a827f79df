"""What distillation bought: each distilled student beside the same recipe and seed trained alone.

A pipeline's `distill: methods: [kd, none]` trains both; `none` is the student alone. Every
other student whose recipe key (`sources.recipe_key`: arch, data, seed) matches exactly one
student-alone run gets its gain (test top-1 points, as both cards record it) and the share of
the teacher–student gap that gain closes. A recipe run on several seeds is also summarised over
them (`gain_over_seeds`): one seed's gain is often inside the noise, the paired rule is not.
"""

from __future__ import annotations

import statistics
from typing import Any

from edgekd.report.schema import Distillation, SeedGain
from edgekd.seed_stats import compare_to_alone

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


def gain_over_seeds(entries: list[tuple[str, Distillation]]) -> list[SeedGain]:
    """Each recipe (`sources.recipe_over_seeds`) with ≥ 2 seeds paired with their student-alone
    twins, summarised over those seeds by the benchmark's own statistics (`edgekd.seed_stats`).

    `entries` are (recipe over seeds, entry) with the gains already filled in
    (`with_gain_vs_alone`); unpaired entries are left out, and a seed counts once (the same
    recipe and seed found twice is the same run, copied).
    """
    groups: dict[str, dict[int | None, tuple[Distillation, float, float]]] = {}
    for key, entry in entries:
        if entry.gain_vs_alone_pts is not None and entry.student_top1 is not None:
            top1, gain = entry.student_top1, entry.gain_vs_alone_pts
            groups.setdefault(key, {}).setdefault(entry.seed, (entry, top1, top1 - gain))
    summaries = []
    for by_seed in groups.values():
        if len(by_seed) < 2:
            continue
        runs = [by_seed[seed] for seed in sorted(by_seed, key=lambda seed: (seed is None, seed or 0))]
        students, alone = [top1 for _, top1, _ in runs], [twin for _, _, twin in runs]
        teachers = [top1 for top1 in (_teacher_top1(entry) for entry, _, _ in runs) if top1 is not None]
        stats = compare_to_alone(students, alone, statistics.fmean(teachers) if teachers else None)
        summaries.append(
            SeedGain(
                method=runs[0][0].method,
                students=[entry.model for entry, _, _ in runs],
                seeds=[entry.seed for entry, _, _ in runs],
                student_top1_mean=stats["mean"],
                student_top1_std=stats["std"],
                alone_top1_mean=statistics.fmean(alone),
                gain_mean_pts=stats["gain_mean"],
                gain_std_pts=stats["gain_std"],
                gap_closed_pct=None if stats["gap_closed"] is None else 100.0 * stats["gap_closed"],
                beats_alone=stats["beats_alone"] if stats["rule_applies"] else None,
            )
        )
    return summaries


def distillation_rows(distilled: list[tuple[str, dict[str, Any]]]) -> tuple[list[Distillation], list[SeedGain]]:
    """The report's Distillation entries and their summary over seeds, from (report name, the
    card's `sources.distillation_facts`) of each distilled or student-alone model."""
    pairing = ("recipe", "recipe_over_seeds")  # how entries pair and pool, not what the report shows
    entries = with_gain_vs_alone(
        [
            (
                tuple(facts.get("recipe") or ()),
                Distillation(model=name, **{k: v for k, v in facts.items() if k not in pairing}),
            )
            for name, facts in distilled
        ]
    )
    over_seeds = [str(facts.get("recipe_over_seeds")) for _, facts in distilled]
    return entries, gain_over_seeds(list(zip(over_seeds, entries)))
