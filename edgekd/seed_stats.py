"""Seed statistics of the benchmark and the report: mean ± std, paired differences, the "beats"
rule, and the share of the teacher–student gap a method closes."""

from __future__ import annotations

import statistics
from typing import Any


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def compare_to_alone(method: list[float], alone: list[float], teacher_top1: float | None) -> dict[str, Any]:
    """A method's test top-1 over seeds against the student alone's over the same seeds.

    The rule (issue "benchmark"): a method beats the student alone when the mean over ≥ 3
    seeds is higher by more than the std of the paired (same-seed) differences.
    """
    mean, std = mean_std(method)
    alone_mean, _ = mean_std(alone)
    diffs = [m - a for m, a in zip(method, alone)]
    diff_mean, diff_std = mean_std(diffs) if diffs else (float("nan"), float("nan"))
    seeds = len(diffs)
    gap = None if teacher_top1 is None else teacher_top1 - alone_mean
    return {
        "mean": mean,
        "std": std,
        "seeds": seeds,
        "gain_mean": diff_mean,
        "gain_std": diff_std,
        "beats_alone": seeds >= 3 and diff_mean > diff_std,
        "rule_applies": seeds >= 3,
        "gap_closed": None if not gap or gap <= 0 else (mean - alone_mean) / gap,
    }
