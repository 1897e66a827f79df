"""Distillation losses and how several teachers' outputs combine into one soft target."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def soft_targets(teacher_logits: Sequence[torch.Tensor], temperature: float, rule: str = "prob") -> torch.Tensor:
    """Teachers' soft targets at temperature T: (B, num_classes) probabilities, float32.

    Args:
        teacher_logits: one (B, num_classes) tensor per teacher.
        temperature: T > 0.
        rule: `prob`: mean of the teachers' softmax(t/T); `logit`: softmax of their mean
            logits / T. Both are plain softmax(t/T) for a single teacher.
    """
    if len(teacher_logits) == 1 or rule == "logit":
        mean_logits = (
            torch.stack([t.float() for t in teacher_logits]).mean(0)
            if len(teacher_logits) > 1
            else teacher_logits[0].float()
        )
        return F.softmax(mean_logits / temperature, dim=1)
    return torch.stack([F.softmax(t.float() / temperature, dim=1) for t in teacher_logits]).mean(0)


def ensemble_logits(teacher_logits: Sequence[torch.Tensor], rule: str = "prob") -> torch.Tensor:
    """One set of logits standing for the teachers at T=1 (for top-1 and agreement):
    log of the mean probabilities (`prob`) or the mean logits (`logit`)."""
    if len(teacher_logits) == 1:
        return teacher_logits[0].float()
    if rule == "logit":
        return torch.stack([t.float() for t in teacher_logits]).mean(0)
    return soft_targets(teacher_logits, 1.0, "prob").clamp_min(1e-12).log()


def standardize_logits(logits: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-sample z-score of logits (Sun et al. 2024, "Logit Standardization in Knowledge
    Distillation"): the student matches the shape of the teacher's logits, not their scale,
    which a small student cannot reach anyway. float32, same shape."""
    logits = logits.float()
    return (logits - logits.mean(dim=1, keepdim=True)) / (logits.std(dim=1, keepdim=True) + eps)


def kd_loss(
    student_logits: torch.Tensor, target_probs: torch.Tensor, temperature: float, reduction: str = "batchmean"
) -> torch.Tensor:
    """Hinton's soft term: T²·KL(p_teacher ‖ softmax(s/T)), float32.

    T² is applied at every T so that the soft term's gradients keep their scale when T
    changes (Hinton et al. 2015, §2), also when α = 1.

    Args:
        reduction: `batchmean` (a scalar: the mean over samples of each sample's KL) or
            `none` (one value per sample, shape (B,); their mean is the `batchmean` value).
    """
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    if reduction == "none":
        return F.kl_div(log_student, target_probs, reduction="none").sum(dim=1) * (temperature * temperature)
    return F.kl_div(log_student, target_probs, reduction="batchmean") * (temperature * temperature)


def hint_loss(adapted_student: torch.Tensor, teacher_hint: torch.Tensor) -> torch.Tensor:
    """FitNet's hint loss: mean squared error between the adapted guided features and the
    teacher's hint features (same shape), float32."""
    return F.mse_loss(adapted_student.float(), teacher_hint.float())
