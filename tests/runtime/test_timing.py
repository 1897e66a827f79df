"""Interleaved latency measurement."""

from __future__ import annotations

import time

from edgekd.runtime import compare_latency


def test_interleaved_timing_ranks_runners_by_their_real_cost():
    calls = {"slow": 0, "fast": 0}

    def slow():
        calls["slow"] += 1
        time.sleep(0.004)

    def fast():
        calls["fast"] += 1

    timed = compare_latency(
        {"slow": slow, "fast": fast}, batch=8, warmup=2, min_rounds=10, min_time_s=0.05, block_s=0.01
    )
    assert timed["slow"].median_ms >= 4.0 > timed["fast"].median_ms
    assert timed["slow"].calls >= 2 * 10 and timed["fast"].calls > timed["slow"].calls  # blocks last ~10 ms each
    assert calls["slow"] >= timed["slow"].calls + 2 + 10  # + warm-up + one settling call per round
    assert timed["slow"].p90_ms >= timed["slow"].median_ms and timed["slow"].img_per_s < 8 / 0.004
    assert set(timed["fast"].to_dict()) == {"batch", "median_ms", "p90_ms", "calls", "img_per_s"}


def test_timing_stops_at_its_time_limit():
    started = time.perf_counter()
    timed = compare_latency({"sleepy": lambda: time.sleep(0.02)}, batch=1, warmup=1, min_rounds=1000, max_time_s=0.2)
    assert time.perf_counter() - started < 1.0 and 5 <= timed["sleepy"].calls < 100
