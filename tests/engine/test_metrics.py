"""Paired comparison of two models' predictions (the count behind "the ensemble beats a member")."""

from __future__ import annotations

import pytest
import torch

from edgekd.engine import Predictions


def _predicting(classes: list[int], labels: torch.Tensor) -> Predictions:
    return Predictions(torch.nn.functional.one_hot(torch.tensor(classes), 4).float(), labels)


def test_versus_counts_the_discordant_samples_and_tests_them_exactly():
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    a = _predicting([0, 1, 2, 0, 1, 1], labels)  # right on samples 0, 1, 2, 5
    b = _predicting([0, 2, 3, 3, 0, 1], labels)  # right on samples 0, 3, 4, 5
    assert a.versus(b) == {"only_this_right": 2, "only_other_right": 2, "mcnemar_p": pytest.approx(1.0)}


def test_ten_discordant_samples_all_one_way_are_significant():
    labels = torch.zeros(12, dtype=torch.long)
    better = _predicting([0] * 12, labels)
    worse = _predicting([1] * 10 + [0] * 2, labels)
    paired = better.versus(worse)
    assert (paired["only_this_right"], paired["only_other_right"]) == (10, 0)
    assert paired["mcnemar_p"] == pytest.approx(2 * 0.5**10)  # exact two-sided binomial
    assert worse.versus(worse)["mcnemar_p"] == 1.0  # no discordant sample: nothing to test
