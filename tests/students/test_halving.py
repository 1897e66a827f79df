"""Successive halving, the Pareto front and the FLOPs-vs-latency check, as plain functions."""

from __future__ import annotations

import pytest

from edgekd.errors import ConfigError
from edgekd.report import pareto_front
from edgekd.students.candidates import Candidate, resolve_candidates
from edgekd.students.halving import Score, better_half, ranked, rung_cost, rung_epochs
from edgekd.students.latency import flops_vs_latency


def test_rungs_double_up_to_half_the_full_schedule():
    assert rung_epochs(8, 8) == [1, 2, 4]  # 8 → 4 → 2 candidates, then the finalist at 8
    assert rung_epochs(8, 16) == [2, 4, 8]
    assert rung_epochs(5, 10) == [2, 3, 5]  # ⌈10/8⌉, ⌈10/4⌉, ⌈10/2⌉


def test_rungs_respect_the_first_rung_and_the_full_schedule():
    assert rung_epochs(8, 4) == [1, 1, 2]  # never below one epoch (equal rungs reuse their runs)
    assert rung_epochs(8, 4, first=2) == [2, 2, 2]
    assert rung_epochs(3, 1) == [1, 1]


def test_a_single_candidate_goes_straight_to_the_full_schedule():
    assert rung_epochs(1, 10) == []
    with pytest.raises(ValueError):
        rung_epochs(0, 10)


def test_the_better_half_on_val_continues_rounding_up():
    scores = [
        Score("a", 50.0, 1.0),
        Score("b", 70.0, 2.0),
        Score("c", 60.0, 0.5),
        Score("d", None, 0.1),
        Score("e", 65.0, 3.0),
    ]
    assert better_half(scores) == ["b", "e", "c"]
    assert better_half(scores[:2]) == ["b"]


def test_ties_on_val_go_to_the_faster_then_by_name():
    scores = [Score("slow", 80.0, 2.0), Score("fast", 80.0, 1.0), Score("b", 70.0, 1.0), Score("a", 70.0, 1.0)]
    assert [s.arch for s in ranked(scores)] == ["fast", "slow", "a", "b"]


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 70.0), (2.0, 80.0), (3.0, 75.0), (2.0, 79.0), (0.5, 60.0), (1.0, 70.0)]
    # (3, 75) is slower and worse than (2, 80); (2, 79) is as fast and worse; equal twins both stay.
    assert pareto_front(points) == [True, True, False, False, True, True]


def _candidate(arch: str, mflops: float | None, latency_ms: float | None) -> Candidate:
    return Candidate(arch, params=1, mflops=mflops, latency_ms=latency_ms)


def test_spearman_is_one_when_flops_rank_latency_and_minus_one_when_reversed():
    same = [_candidate(f"m{i}", float(i), 0.1 * i) for i in range(1, 7)]
    check = flops_vs_latency(same)
    assert check["spearman_rho"] == pytest.approx(1.0)
    assert check["top5_by_flops"] == check["top5_by_latency"] == ["m1", "m2", "m3", "m4", "m5"]
    reversed_ = [_candidate(f"m{i}", float(i), 1.0 / i) for i in range(1, 7)]
    check = flops_vs_latency(reversed_)
    assert check["spearman_rho"] == pytest.approx(-1.0)
    assert check["top5_by_latency"] == ["m6", "m5", "m4", "m3", "m2"]


def test_spearman_matches_a_hand_computed_value_and_skips_incomplete_candidates():
    # ranks by FLOPs 1..5, by latency 2,1,4,3,5: d² sum = 4 → ρ = 1 − 6·4 / (5·24) = 0.8
    candidates = [
        _candidate("a", 1, 0.2),
        _candidate("b", 2, 0.1),
        _candidate("c", 3, 0.4),
        _candidate("d", 4, 0.3),
        _candidate("e", 5, 0.5),
        _candidate("no-flops", None, 0.05),
        _candidate("not-timed", 0.5, None),
    ]
    check = flops_vs_latency(candidates)
    assert check["candidates"] == 5
    assert check["spearman_rho"] == pytest.approx(0.8)
    assert flops_vs_latency(candidates[:2])["spearman_rho"] is None  # too few to rank


def test_candidate_patterns_resolve_through_timm_in_order():
    assert resolve_candidates(("lcnet_05*", "mobilenetv3_small_0*", "lcnet_050")) == [
        "lcnet_050",
        "mobilenetv3_small_050",
        "mobilenetv3_small_075",
    ]
    assert "mobilenetv3_small_050" in resolve_candidates(None)
    with pytest.raises(ConfigError, match="matches no timm architecture"):
        resolve_candidates(("no_such_net_*",))


def test_a_rung_budget_caps_the_candidate_epochs_of_the_short_rungs():
    # 8 candidates, 16 epochs: uncapped [2, 4, 8] trains 8·2 + 4·4 + 2·8 = 48 candidate-epochs (3 × E).
    assert rung_cost([2, 4, 8], 8) == 48
    assert rung_epochs(8, 16, budget=3.0) == [2, 4, 8]
    assert rung_epochs(8, 16, budget=1.0) == [1, 1, 2]  # 8 + 0 (reused) + 2·2 = 12 ≤ 16
    assert rung_cost(rung_epochs(8, 16, budget=1.0), 8) <= 16
    assert rung_epochs(8, 40, budget=1.0) == [2, 3, 6]  # 16 + 12 + 12 = 40 ≤ 40; [2, 4, 7] would be 46
    # Never below one short run per candidate, whatever the budget: 3 candidates × 1 epoch.
    assert rung_epochs(3, 3, budget=0.1) == [1, 1]
    assert rung_cost([1, 1], 3) == 3
    assert rung_epochs(3, 12, budget=1.0, first=2) == [2, 3]  # 6 + 6 = 12


def _fully_distilled(arch: str, latency_ms: float, val_top1: float) -> Candidate:
    return Candidate(arch, latency_ms=latency_ms, rungs=[{"rung": 0, "epochs": 4, "val_top1": val_top1}])


@pytest.mark.parametrize(
    ("baseline_latency", "baseline_val", "shipped"),
    [
        (0.3, 84.0, "baseline"),  # in budget and better on val: the full runs decide
        (0.3, 83.5, "finalist"),  # a tie keeps the halving's finalist
        (0.3, 83.0, "finalist"),
        (0.5, 90.0, "finalist"),  # over budget: a comparison only, however accurate
    ],
)
def test_an_in_budget_baseline_that_beats_the_finalist_on_val_is_shipped(baseline_latency, baseline_val, shipped):
    from edgekd.students.config import StudentsConfig
    from edgekd.students.stage import _better_on_val

    config = StudentsConfig(teacher="t", out_dir="o", budget_ms=0.4, epochs=4, baseline="baseline")
    finalist = _fully_distilled("finalist", 0.2, 83.5)
    baseline = _fully_distilled("baseline", baseline_latency, baseline_val)
    chosen = _better_on_val(finalist, baseline, config)
    assert chosen.arch == shipped
    if shipped == "baseline":
        assert baseline.decision.startswith("chosen") and "not shipped" in finalist.decision
