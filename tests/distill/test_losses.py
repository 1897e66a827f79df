"""The KD loss is Hinton's formula exactly; ensembles combine as documented."""

from __future__ import annotations

import math

import pytest
import torch

from edgekd.distill.losses import ensemble_logits, hint_loss, kd_loss, soft_targets, standardize_logits


def _by_hand(student, teacher, T):
    """T²·(1/B)·Σ_b Σ_c p_t·(log p_t − log p_s), written out with plain exp/log."""
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        zs = sum(math.exp(v / T) for v in s_row)
        zt = sum(math.exp(v / T) for v in t_row)
        for s, t in zip(s_row, t_row):
            p_t, p_s = math.exp(t / T) / zt, math.exp(s / T) / zs
            total += p_t * (math.log(p_t) - math.log(p_s))
    return T * T * total / len(student)


@pytest.mark.parametrize("T", [1.0, 4.0, 10.0])
def test_kd_loss_is_t_squared_batchmean_kl(T):
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(5, 7, generator=generator) * 3, torch.randn(5, 7, generator=generator) * 3
    loss = kd_loss(student, soft_targets([teacher], T), T)
    assert loss.item() == pytest.approx(_by_hand(student, teacher, T), rel=1e-5)


def test_kd_loss_is_zero_when_the_student_matches_and_positive_otherwise():
    logits = torch.randn(4, 10)
    assert kd_loss(logits, soft_targets([logits], 4.0), 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(logits.flip(1), soft_targets([logits], 4.0), 4.0).item() > 0.01


def test_soft_targets_ensemble_rules():
    a, b = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 4.0]])
    prob = soft_targets([a, b], 2.0, "prob")
    assert torch.allclose(prob, (torch.softmax(a / 2, 1) + torch.softmax(b / 2, 1)) / 2)
    logit = soft_targets([a, b], 2.0, "logit")
    assert torch.allclose(logit, torch.softmax((a + b) / 2 / 2, 1))
    assert torch.allclose(prob.sum(1), torch.ones(1)) and not torch.allclose(prob, logit)
    # For top-1/agreement the ensemble is log mean probability at T=1.
    assert torch.allclose(ensemble_logits([a, b], "prob").exp(), soft_targets([a, b], 1.0, "prob"))
    assert torch.equal(ensemble_logits([a]), a)


def test_hint_loss_is_mean_squared_error():
    student, teacher = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 2.0)
    assert hint_loss(student, teacher).item() == pytest.approx(4.0)


def test_standardized_logits_ignore_each_samples_shift_and_scale():
    logits = torch.randn(6, 10, generator=torch.Generator().manual_seed(1)) * 4
    shifted_scaled = logits * torch.tensor([[0.5], [2], [3], [1], [7], [0.1]]) + torch.arange(6.0)[:, None]
    z = standardize_logits(logits)
    assert torch.allclose(z.mean(1), torch.zeros(6), atol=1e-5) and torch.allclose(z.std(1), torch.ones(6), atol=1e-4)
    assert torch.allclose(standardize_logits(shifted_scaled), z, atol=1e-4)
    # Hence a teacher that is only more confident gives the same kl-std targets, not the same kl ones.
    assert not torch.allclose(soft_targets([logits], 4.0), soft_targets([logits * 3], 4.0), atol=1e-3)
