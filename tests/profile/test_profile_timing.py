"""The trtexec-like timing loop: warm-up, duration, minimum iterations, percentiles, throughput."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgekd.errors import ConfigError
from edgekd.profile.timing import SETTLE_MIN_CALLS, TimingConfig, settled, summarise, time_calls
from edgekd.schemas import ProfileBatch


def test_percentiles_and_throughput_of_known_samples():
    stats = summarise(list(range(1, 101)), batch=8, total_s=5.05)
    assert stats.iterations == 100 and stats.min_ms == 1 and stats.max_ms == 100
    assert stats.mean_ms == pytest.approx(50.5) and stats.median_ms == pytest.approx(50.5)
    assert stats.p90_ms == pytest.approx(np.percentile(range(1, 101), 90)) and stats.p99_ms == pytest.approx(99.01)
    assert stats.throughput_img_s == pytest.approx(8 * 1000 / 50.5)
    assert stats.wall_throughput_img_s == pytest.approx(8 * 100 / 5.05)


def test_loop_runs_for_the_duration_after_the_warm_up():
    calls = []

    def call():
        calls.append(time.perf_counter())
        time.sleep(0.002)

    started = time.perf_counter()
    stats = time_calls(call, batch=4, config=TimingConfig(warmup_ms=50, duration_s=0.2, min_iterations=10))
    elapsed = time.perf_counter() - started
    assert stats.total_s >= 0.2 and elapsed >= 0.25
    assert len(calls) > stats.iterations  # warm-up calls are not timed
    assert stats.min_ms >= 2.0 and stats.mean_ms < 50  # each call sleeps 2 ms
    assert stats.p90_ms <= stats.p95_ms <= stats.p99_ms <= stats.max_ms


def test_throughput_agrees_with_batch_over_mean_latency_within_5_percent():
    stats = time_calls(lambda: time.sleep(0.003), batch=32, config=TimingConfig(warmup_ms=10, duration_s=0.2))
    assert stats.throughput_img_s == pytest.approx(32 * 1000 / stats.mean_ms)
    assert stats.wall_throughput_img_s == pytest.approx(stats.throughput_img_s, rel=0.05)


def test_slow_calls_still_get_the_minimum_iterations():
    stats = time_calls(
        lambda: time.sleep(0.02), batch=1, config=TimingConfig(warmup_ms=0, duration_s=0.01, min_iterations=10)
    )
    assert stats.iterations == 10 and stats.total_s >= 0.2


def test_settled_compares_the_median_and_p99_with_those_of_the_first_half():
    steady = [1.0] * 990 + [3.0] * 10
    assert settled(steady, 0.05)
    assert not settled([1.0] * 500 + [1.2] * 500, 0.05)  # the median moved by 20 %
    assert not settled([1.0] * 1000 + [9.0] * 30, 0.05)  # only the tail moved: p99 1.0 → 9.0


def test_with_settle_a_steady_call_stops_long_before_the_duration_and_says_so():
    calls = iter(range(10**9))
    stats = time_calls(
        lambda: next(calls), batch=1, config=TimingConfig(warmup_ms=0, duration_s=60.0, settle=0.99)
    )  # fmt: skip
    assert stats.stopped == "settled" and stats.total_s < 60.0
    assert stats.iterations >= SETTLE_MIN_CALLS and stats.iterations % SETTLE_MIN_CALLS == 0


def test_without_settle_the_loop_runs_its_duration():
    stats = time_calls(lambda: None, batch=1, config=TimingConfig(warmup_ms=0, duration_s=0.05))
    assert stats.stopped == "duration" and stats.total_s >= 0.05


@pytest.mark.parametrize(
    "config",
    [
        TimingConfig(warmup_ms=-1),
        TimingConfig(duration_s=0),
        TimingConfig(min_iterations=3),
        TimingConfig(settle=0),
        TimingConfig(settle=1.5),
    ],
)
def test_invalid_timing_is_refused(config):
    with pytest.raises(ConfigError):
        time_calls(lambda: None, batch=1, config=config)


def test_the_loop_returns_profile_json_batch_figures_in_the_file_order():
    stats = summarise([2.0, 1.0, 3.0], batch=4, total_s=0.01)
    # profile.json's batch entry, key for key in the order files written by edgekd.profile/1 hold.
    assert list(stats.model_dump()) == [
        "batch",
        "iterations",
        "mean_ms",
        "median_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "min_ms",
        "max_ms",
        "std_ms",
        "total_s",
        "throughput_img_s",
        "wall_throughput_img_s",
        "stopped",  # since the settle rule: duration | settled (absent, i.e. None, in older files)
    ]
    entry = ProfileBatch.model_validate({**stats.model_dump(), "power": None, "device": stats.model_dump()})
    assert entry.device == stats and entry.wall_throughput_img_s == stats.wall_throughput_img_s
