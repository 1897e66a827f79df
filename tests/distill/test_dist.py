"""`--method dist` (Huang et al. 2022): the relation terms against hand computations and a
digits run through the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from edgekd.distill import METHODS
from edgekd.distill.methods.dist import RelationDistillation, dist_terms, pearson


def _pearson(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def test_identical_distributions_cost_nothing():
    logits = torch.randn(8, 10) * 3
    inter, intra = dist_terms(logits, logits.clone(), 1.0)
    assert inter.item() == pytest.approx(0.0, abs=1e-4) and intra.item() == pytest.approx(
        0.0, abs=1e-4
    )  # up to the 1e-8 eps


def test_a_shift_or_a_positive_scale_of_the_probabilities_keeps_the_correlation():
    """What DIST buys over KL: only relations count, not the exact values."""
    p = torch.softmax(torch.randn(4, 6), 1)
    assert torch.allclose(pearson(p, 3.0 * p + 0.2), torch.ones(4), atol=1e-5)


def test_inter_and_intra_match_a_hand_computation():
    student, teacher = (
        [[2.0, 0.0, 1.0], [0.0, 1.0, 3.0], [1.0, 1.0, 0.0]],
        [[1.0, 0.5, 0.0], [0.0, 2.0, 2.0], [2.0, 0.0, 1.0]],
    )
    temperature = 2.0
    ps = [[math.exp(v / temperature) / sum(math.exp(w / temperature) for w in row) for v in row] for row in student]
    pt = [[math.exp(v / temperature) / sum(math.exp(w / temperature) for w in row) for v in row] for row in teacher]
    inter_hand = temperature**2 * (1 - sum(_pearson(a, b) for a, b in zip(ps, pt)) / 3)
    columns = lambda rows: [list(c) for c in zip(*rows)]  # noqa: E731
    intra_hand = temperature**2 * (1 - sum(_pearson(a, b) for a, b in zip(columns(ps), columns(pt))) / 3)
    inter, intra = dist_terms(torch.tensor(student), torch.tensor(teacher), temperature)
    assert inter.item() == pytest.approx(inter_hand, rel=1e-4, abs=1e-5) and intra.item() == pytest.approx(
        intra_hand, rel=1e-4, abs=1e-5
    )


def test_the_loss_is_ce_plus_beta_inter_plus_gamma_intra():
    task = RelationDistillation(torch.nn.Identity(), None, None, beta=2.0, gamma=0.5, temperature=1.0)
    student, teacher, labels = torch.randn(5, 4), torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    task.student_logits = lambda pixels: student
    task.targets = type("Fixed", (), {"logits": lambda self, pixels, batch: [teacher]})()
    batch = type("B", (), {"labels": labels, "__len__": lambda self: 5})()
    out = task(torch.zeros(5, 3, 8, 8), batch)
    inter, intra = dist_terms(student, teacher, 1.0)
    expected = torch.nn.functional.cross_entropy(student, labels) + 2.0 * inter + 0.5 * intra
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert METHODS["dist"].resolve_options({}) == {"temperature": 4.0, "beta": 1.0, "gamma": 1.0, "ce_weight": 1.0}


def test_dist_trains_on_digits_through_the_cli(run_cli, digits_teacher, tmp_path):
    result = run_cli(
        "distill",
        "--teacher",
        digits_teacher,
        "--student",
        "test_resnet",
        "--data",
        "digits",
        "--img-size",
        "16",
        "--batch-size",
        "64",
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--method",
        "dist",
        "--gamma",
        "2",
        "--out",
        tmp_path,
    )
    assert result.code == 0, result.stderr
    card = json.loads((tmp_path / "student.json").read_text())
    assert (card["training"]["method"], card["training"]["gamma"], card["training"]["beta"]) == ("dist", 2.0, 1.0)
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"train_inter", "train_intra", "train_ce"} <= set(record)
    assert card["metrics"]["test"]["top1"] > 10  # better than chance on 10 classes
