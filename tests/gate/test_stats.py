"""Paired statistics: McNemar's exact/χ² p-values and the exact bounds of a drop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekd.gate.stats import mcnemar_p_value, paired_drop


def test_mcnemar_exact_matches_the_binomial_tail():
    # b=1, c=9: P(X<=1 | n=10, p=1/2) = 11/1024, doubled.
    p, test = mcnemar_p_value(1, 9)
    assert test == "mcnemar-exact" and p == pytest.approx(2 * 11 / 1024)
    assert mcnemar_p_value(5, 5)[0] == 1.0 and mcnemar_p_value(0, 0) == (1.0, "mcnemar-exact")


def test_mcnemar_switches_to_chi2_for_many_discordant_pairs():
    p, test = mcnemar_p_value(3000, 2800)
    assert test == "mcnemar-chi2"
    statistic = (200 - 1) ** 2 / 5800
    assert p == pytest.approx(math.erfc(math.sqrt(statistic / 2)))


def test_a_drop_of_two_in_six_hundred_is_not_significant_but_sixty_is():
    n = 600
    reference = np.ones(n, dtype=bool)
    small = reference.copy()
    small[:2] = False
    large = reference.copy()
    large[:60] = False
    noise = paired_drop(reference, small)
    real = paired_drop(reference, large)
    assert noise.drop_pts == pytest.approx(100 * 2 / 600) and noise.p_value > 0.05
    assert not noise.significantly_above(0.0)  # two errors in 600 may be chance
    assert real.p_value < 1e-10 and real.significantly_above(5.0) and not real.significantly_above(12.0)
    assert real.lower_pts <= real.drop_pts <= real.upper_pts


def test_few_discordant_pairs_are_never_called_significant():
    # 3 of 3 discordant pairs against the candidate: McNemar one-sided p = 1/8, not < 0.05.
    reference = np.ones(600, dtype=bool)
    candidate = reference.copy()
    candidate[:3] = False
    drop = paired_drop(reference, candidate)
    assert drop.p_value == pytest.approx(0.25) and drop.lower_pts < 0 < drop.drop_pts
    assert not drop.significantly_above(0.0)


def test_lower_bound_at_zero_threshold_is_mcnemars_one_sided_test():
    rng = np.random.default_rng(3)
    for b, c in [(9, 1), (12, 4), (20, 10), (5, 0), (4, 0)]:
        reference = np.zeros(200, dtype=bool)
        candidate = np.zeros(200, dtype=bool)
        reference[:b] = True
        candidate[b : b + c] = True
        order = rng.permutation(200)
        drop = paired_drop(reference[order], candidate[order])
        one_sided = mcnemar_p_value(b, c)[0] / 2
        assert drop.significantly_above(0.0) == (one_sided < 0.05), (b, c)


def test_only_discordant_pairs_matter_and_results_are_reproducible():
    rng = np.random.default_rng(1)
    reference = rng.random(1000) < 0.9
    candidate = reference.copy()
    flip = rng.choice(1000, 40, replace=False)
    candidate[flip] = ~candidate[flip]
    first, second = paired_drop(reference, candidate), paired_drop(reference, candidate)
    assert first == second
    b = int((reference & ~candidate).sum())
    c = int((~reference & candidate).sum())
    assert (first.b, first.c) == (b, c) and b + c == 40


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        paired_drop(np.ones(3, bool), np.ones(4, bool))
