"""Side-by-side latency of several runners, measured so that they can be compared fairly.

Runners are timed in interleaved rounds (a block of A's calls, then B's, then C's, again and
again) rather than one after the other: on a shared machine, load from other processes then
hits every runner alike, and the ratio of medians stays meaningful even when the absolute
figures are perturbed.

Blocks rather than single calls, and one untimed call at the start of each block: ONNX Runtime
sessions and PyTorch each keep worker threads that spin for a while after a call. Alternating
single calls would time each runner against the previous one's spinning threads (measured here:
up to 5× slower); a settling call lets those threads go idle first.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Latency:
    """One runner's timing at one batch size.

    Attributes:
        batch: images per call.
        median_ms: median wall time of one call (ms).
        p90_ms: 90th percentile of one call (ms).
        calls: calls timed (warm-up and settling calls excluded).
    """

    batch: int
    median_ms: float
    p90_ms: float
    calls: int

    @property
    def img_per_s(self) -> float:
        return 1000.0 * self.batch / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "img_per_s": self.img_per_s}


def compare_latency(
    runners: dict[str, Callable[[], object]],
    batch: int,
    *,
    warmup: int = 3,
    min_rounds: int = 5,
    min_time_s: float = 1.0,
    max_time_s: float = 20.0,
    block_s: float = 0.25,
    settle_s: float = 0.02,
) -> dict[str, Latency]:
    """Median latency (ms per call) of each runner, timed in interleaved blocks.

    Args:
        runners: name → a zero-argument callable that runs one batch to completion.
        batch: images per call (recorded, and used for img/s).
        warmup: untimed calls per runner first (allocations, kernel selection).
        min_rounds: rounds at least; each round times one block of every runner.
        min_time_s: keep going for at least this long per runner (s, wall time of the rounds).
        max_time_s: stop after this much time in total (s), whatever the rounds.
        block_s: target duration of one block (s); a block has at least 2 timed calls.
        settle_s: untimed calls at the start of each block, for at least this long (s): the
            previous runner's worker threads keep spinning for a while after its last call
            (ONNX Runtime, OpenMP) and would steal the cores from the first timed calls.
            Measured here: with 50 ms blocks and one settling call, ORT resnet18 at batch 32
            read 18.6 ms interleaved vs 10.6 ms alone.
    """
    block_calls = {}
    for name, run in runners.items():
        begin = time.perf_counter()
        for _ in range(max(1, warmup)):
            run()
        per_call = (time.perf_counter() - begin) / max(1, warmup)
        block_calls[name] = max(2, math.ceil(block_s / per_call)) if per_call > 0 else 2
    samples: dict[str, list[float]] = {name: [] for name in runners}
    started = time.perf_counter()
    rounds = 0
    while True:
        for name, run in runners.items():
            settle_until = time.perf_counter() + settle_s
            run()  # settle: the previous runner's worker threads stop spinning meanwhile
            while time.perf_counter() < settle_until:
                run()
            for _ in range(block_calls[name]):
                begin = time.perf_counter()
                run()
                samples[name].append((time.perf_counter() - begin) * 1000.0)
        rounds += 1
        elapsed = time.perf_counter() - started
        if (rounds >= min_rounds and elapsed >= min_time_s * len(runners)) or elapsed > max_time_s:
            break
    return {name: _summarise(times, batch) for name, times in samples.items()}


def _summarise(times_ms: list[float], batch: int) -> Latency:
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return Latency(batch=batch, median_ms=statistics.median(ordered), p90_ms=p90, calls=len(ordered))
