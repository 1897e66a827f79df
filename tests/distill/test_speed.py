"""The speed harness measures all four modes both ways and reports the targets' ratios."""

from __future__ import annotations

import pytest

from edgekd.distill.speed import MODES, SpeedConfig, measure_speed


def test_measure_speed_reports_four_rates_and_the_target_ratios():
    config = SpeedConfig(
        data="digits",
        teacher_arch="resnet10t",
        student_arch="test_resnet",
        img_size=16,
        batch_size=32,
        batches=2,
        warmup=1,
        steps=2,
        rounds=1,
        epoch_samples=128,
    )
    result = measure_speed(config)
    for kind in ("steps", "epochs"):
        rates = result[kind]["img_per_s"]
        assert set(rates) == set(MODES) and all(rate > 0 for rate in rates.values())
        bound = 1 / (1 / rates["student"] + 1 / rates["teacher"])
        assert result[kind]["online_bound_img_per_s"] == pytest.approx(bound)
        assert result[kind]["cached_kd_vs_student"] == pytest.approx(rates["cached_kd"] / rates["student"])
    assert set(result["targets"]) == {"cached_kd_vs_student", "online_kd_vs_bound"}
    assert result["machine"]["threads"] >= 1


def test_more_methods_are_timed_from_the_cache_beside_kd():
    config = SpeedConfig(
        data="digits",
        teacher_arch="resnet10t",
        student_arch="test_resnet",
        img_size=16,
        batch_size=32,
        batches=2,
        warmup=1,
        steps=2,
        rounds=1,
        epoch_samples=64,
        methods=("dkd", "dist"),
    )
    steps = measure_speed(config)["steps"]
    assert {"cached_dkd", "cached_dist"} <= set(steps["img_per_s"]) and steps["ratio_to_student"]["cached_dkd"] > 0


def test_methods_that_cannot_run_from_the_cache_are_refused():
    from edgekd.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot time method.s. fitnet"):
        measure_speed(SpeedConfig(data="digits", methods=("fitnet",)))
