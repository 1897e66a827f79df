"""Successive halving: short runs for every feasible candidate, the better half on val goes on.

Rung r (of H = ⌈log2 n⌉ short rungs for n candidates) trains the survivors for
⌈L / 2^(H−1−r)⌉ epochs (at least `first` epochs, at most E), up to L = ⌈E/2⌉ in the last short
rung. After each rung the better half (rounded up) continues; the one left is the finalist and
gets the full schedule E. A rung with as many epochs as the one before reuses its runs (same
settings, same run), so tiny budgets do not pay twice.

With a `budget`, L is the longest that keeps the rungs' training within `budget` × E
candidate-epochs (what the finalist's full run trains, once): the search as a whole then costs
a bounded multiple of that one run, however many candidates fit the latency budget. It never
goes below `first` epochs per candidate: every feasible candidate gets one short run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    """What ranks a candidate after a rung: val top-1 (%, None: no val figure) and latency (ms)."""

    arch: str
    val_top1: float | None
    latency_ms: float


def survivors(candidates: int, rungs: int) -> list[int]:
    """How many candidates train in each rung (the better ⌈n/2⌉ of a rung go on)."""
    counts = [candidates]
    while len(counts) < rungs:
        counts.append(math.ceil(counts[-1] / 2))
    return counts[:rungs]


def rung_cost(schedule: list[int], candidates: int) -> int:
    """Candidate-epochs the rungs train; a rung as long as the one before reuses its runs (0)."""
    previous, total = None, 0
    for epochs, count in zip(schedule, survivors(candidates, len(schedule))):
        total += 0 if epochs == previous else epochs * count
        previous = epochs
    return total


def rung_epochs(candidates: int, full_epochs: int, first: int = 1, budget: float | None = None) -> list[int]:
    """Epochs of each short rung for `candidates` feasible candidates (empty for one candidate).

    Args:
        budget: the rungs train at most `budget` × `full_epochs` candidate-epochs in all
            (`rung_cost`), except that each candidate gets at least `first` epochs; None: no cap.
    """
    if candidates < 1:
        raise ValueError("no candidate to halve")
    halvings = math.ceil(math.log2(candidates)) if candidates > 1 else 0

    def shape(last: int) -> list[int]:
        return [min(full_epochs, max(first, math.ceil(last / 2 ** (halvings - 1 - r)))) for r in range(halvings)]

    longest = math.ceil(full_epochs / 2)
    if budget is None:
        return shape(longest)
    for last in range(longest, first - 1, -1):
        if rung_cost(shape(last), candidates) <= budget * full_epochs:
            return shape(last)
    return shape(first)


def ranked(scores: list[Score]) -> list[Score]:
    """Best first: higher val top-1, then lower latency, then name (so ties are repeatable)."""
    return sorted(scores, key=lambda s: (-(s.val_top1 if s.val_top1 is not None else -math.inf), s.latency_ms, s.arch))


def better_half(scores: list[Score]) -> list[str]:
    """The names that continue after a rung: the better ⌈n/2⌉."""
    return [s.arch for s in ranked(scores)[: math.ceil(len(scores) / 2)]]
