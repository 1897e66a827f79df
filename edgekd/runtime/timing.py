"""Side-by-side latency of several runners, measured so that they can be compared fairly.

Runners are timed in interleaved rounds (A, B, C, A, B, C, …) rather than one after the other:
on a shared machine, load from other processes then hits every runner alike, and the ratio of
medians stays meaningful even when the absolute figures are perturbed.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable


@dataclass(frozen=True)
class Latency:
    """One runner's timing at one batch size.

    Attributes:
        batch: images per call.
        median_ms: median wall time of one call (ms).
        p90_ms: 90th percentile of one call (ms).
        calls: calls timed (warm-up excluded).
    """

    batch: int
    median_ms: float
    p90_ms: float
    calls: int

    @property
    def img_per_s(self) -> float:
        return 1000.0 * self.batch / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict:
        return {**asdict(self), "img_per_s": self.img_per_s}


def compare_latency(
    runners: dict[str, Callable[[], object]],
    batch: int,
    *,
    warmup: int = 3,
    min_rounds: int = 15,
    min_time_s: float = 1.0,
    max_time_s: float = 20.0,
) -> dict[str, Latency]:
    """Median latency (ms per call) of each runner, timed in interleaved rounds.

    Args:
        runners: name → a zero-argument callable that runs one batch to completion.
        batch: images per call (recorded, and used for img/s).
        warmup: untimed calls per runner first (allocations, kernel selection).
        min_rounds: rounds at least; each round times one call of every runner.
        min_time_s: keep going until the slowest runner has been timed this long (s).
        max_time_s: stop after this much timing in total (s), whatever the rounds.
    """
    for run in runners.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {name: [] for name in runners}
    started = time.perf_counter()
    rounds = 0
    while True:
        for name, run in runners.items():
            begin = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - begin) * 1000.0)
        rounds += 1
        slowest_s = max(sum(times) for times in samples.values()) / 1000.0
        if (rounds >= min_rounds and slowest_s >= min_time_s) or time.perf_counter() - started > max_time_s:
            break
    return {name: _summarise(times, batch) for name, times in samples.items()}


def _summarise(times_ms: list[float], batch: int) -> Latency:
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return Latency(batch=batch, median_ms=statistics.median(ordered), p90_ms=p90, calls=len(ordered))
