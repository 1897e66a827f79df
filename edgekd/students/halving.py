"""Successive halving: short runs for every feasible candidate, the better half on val goes on.

Rung r (of H = ⌈log2 n⌉ short rungs for n candidates) trains the survivors for
⌈E / 2^(H−r)⌉ epochs (at least `first` epochs, at most E): the last short rung runs E/2, the
first about E/n. After each rung the better half (rounded up) continues; the one left is the
finalist and gets the full schedule E. A rung with as many epochs as the one before reuses its
runs (same settings, same run), so tiny budgets do not pay twice.
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


def rung_epochs(candidates: int, full_epochs: int, first: int = 1) -> list[int]:
    """Epochs of each short rung for `candidates` feasible candidates (empty for one candidate)."""
    if candidates < 1:
        raise ValueError("no candidate to halve")
    halvings = math.ceil(math.log2(candidates)) if candidates > 1 else 0
    return [min(full_epochs, max(first, math.ceil(full_epochs / 2 ** (halvings - r)))) for r in range(halvings)]


def ranked(scores: list[Score]) -> list[Score]:
    """Best first: higher val top-1, then lower latency, then name (so ties are repeatable)."""
    return sorted(scores, key=lambda s: (-(s.val_top1 if s.val_top1 is not None else -math.inf), s.latency_ms, s.arch))


def better_half(scores: list[Score]) -> list[str]:
    """The names that continue after a rung: the better ⌈n/2⌉."""
    return [s.arch for s in ranked(scores)[: math.ceil(len(scores) / 2)]]
