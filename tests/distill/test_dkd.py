"""`--method dkd` (Zhao et al. 2022): TCKD and NCKD against hand computations, the warm-up
share, and a digits run through the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from edgekd.distill import METHODS
from edgekd.distill.losses import kd_loss, soft_targets
from edgekd.distill.methods.dkd import DecoupledKD, dkd_terms
from edgekd.errors import ConfigError


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def _softmax(z: list[float]) -> list[float]:
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


def test_tckd_and_nckd_match_a_hand_computation():
    student, teacher = [2.0, 0.0, 0.0], [1.0, 1.0, 0.0]
    tckd, nckd = dkd_terms(torch.tensor([student]), torch.tensor([teacher]), torch.tensor([0]), temperature=1.0)
    ps, pt = _softmax(student), _softmax(teacher)
    assert tckd.item() == pytest.approx(_kl([pt[0], 1 - pt[0]], [ps[0], 1 - ps[0]]), rel=1e-5)
    # NCKD: KL over the non-target classes, each side renormalised without the target
    assert nckd.item() == pytest.approx(_kl(_softmax(teacher[1:]), _softmax(student[1:])), rel=1e-5)


def test_at_each_temperature_kd_decomposes_into_tckd_plus_weighted_nckd():
    """Zhao et al. 2022, Eq. 7: KL = TCKD + (1 − p_target of the teacher)·NCKD (per sample, ×T² on both sides)."""
    torch.manual_seed(0)
    student, teacher, target = torch.randn(1, 5) * 3, torch.randn(1, 5) * 3, torch.tensor([2])
    for temperature in (1.0, 4.0):
        tckd, nckd = dkd_terms(student, teacher, target, temperature)
        teacher_target_prob = torch.softmax(teacher / temperature, 1)[0, 2].item()
        kd = kd_loss(student, soft_targets([teacher], temperature), temperature).item()
        assert kd == pytest.approx(tckd.item() + (1 - teacher_target_prob) * nckd.item(), rel=1e-4)


def test_identical_logits_give_no_distillation_loss():
    logits = torch.randn(4, 10)
    tckd, nckd = dkd_terms(logits, logits.clone(), torch.tensor([0, 3, 9, 1]), 4.0)
    assert tckd.item() == pytest.approx(0.0, abs=1e-6) and nckd.item() == pytest.approx(0.0, abs=1e-6)


def test_with_beta_zero_the_loss_is_ce_plus_alpha_tckd():
    task = DecoupledKD(torch.nn.Identity(), None, None, alpha=2.0, beta=0.0, warmup=0.0)
    student, teacher, target = torch.randn(6, 4), torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    task.student_logits = lambda pixels: student  # the batch's logits, without a network
    task.targets = type("Fixed", (), {"logits": lambda self, pixels, batch: [teacher]})()
    batch = type("B", (), {"labels": target, "__len__": lambda self: 6})()
    out = task(torch.zeros(6, 3, 8, 8), batch)
    tckd, _ = dkd_terms(student, teacher, target, 4.0)
    expected = torch.nn.functional.cross_entropy(student, target) + 2.0 * tckd
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_distillation_term_warms_up_over_a_share_of_the_run():
    task = DecoupledKD(torch.nn.Identity(), None, None, warmup=0.5)
    task.total_epochs = 4
    weights = []
    for epoch in range(4):
        task.epoch = epoch
        weights.append(task.warmup_weight())
    assert weights == [0.0, 0.5, 1.0, 1.0]  # half the run is 2 epochs of 4


def test_dkd_options_have_their_own_defaults_and_ranges():
    assert METHODS["dkd"].resolve_options({}) == {
        "temperature": 4.0,
        "alpha": 1.0,
        "beta": 8.0,
        "ce_weight": 1.0,
        "warmup": 0.1,
    }
    assert METHODS["dkd"].resolve_options({"alpha": 1.5})["alpha"] == 1.5  # α is a weight here, not a share as in KD
    with pytest.raises(ConfigError, match="--warmup"):
        METHODS["dkd"].resolve_options({"warmup": 2.0})


def test_dkd_trains_on_digits_through_the_cli(run_cli, digits_teacher, tmp_path):
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
        "dkd",
        "--beta",
        "4",
        "--out",
        tmp_path,
    )
    assert result.code == 0, result.stderr
    card = json.loads((tmp_path / "student.json").read_text())
    assert (card["training"]["method"], card["training"]["beta"], card["training"]["alpha"]) == ("dkd", 4.0, 1.0)
    first, last = (json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines())
    assert {"train_tckd", "train_nckd", "train_ce"} <= set(first) and 0 < first["train_kd_weight"] < last[
        "train_kd_weight"
    ] <= 1
    assert card["metrics"]["test"]["top1"] > 10  # better than chance on 10 classes


def test_saturated_logits_keep_the_terms_and_their_gradients_finite():
    student = torch.tensor([[300.0, 0.0, -300.0]], requires_grad=True)
    tckd, nckd = dkd_terms(student, torch.tensor([[0.0, 200.0, 0.0]]), torch.tensor([0]), 1.0)
    (tckd + nckd).backward()
    assert torch.isfinite(tckd) and torch.isfinite(nckd) and torch.isfinite(student.grad).all()
