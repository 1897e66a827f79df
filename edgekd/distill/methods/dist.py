"""`--method dist`: Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher" (DIST).

Instead of matching the teacher's probabilities exactly (KL), the student matches their
*relations*, which a much weaker student can still reach: per sample, the ranking of the
classes (inter-class), and per class, how it spreads over the batch (intra-class). With
p = softmax(z/T) of student and teacher, (B, num_classes):

    loss = ce_weight·CE + T²·(β·(1 − mean_b Pearson(p_s[b], p_t[b])) + γ·(1 − mean_c Pearson(p_s[:, c], p_t[:, c])))

as in the authors' repository (hunto/DIST_KD, its CIFAR recipe: β = γ = 1, T = 4, CE weight 1).
Samples without a label (an `unlabeled:PATH` transfer set) add no CE. With several teachers
their logits combine by `ensemble_logits`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edgekd.data import Batch
from edgekd.distill.losses import ensemble_logits
from edgekd.distill.methods.base import DistillMethod, register
from edgekd.distill.methods.options import MethodOption


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of each row of `a` with the same row of `b`: (N, D) → (N,)."""
    a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def dist_terms(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inter, intra): 1 − mean Pearson over samples, and over classes, each ×T², float32."""
    student = F.softmax(student_logits.float() / temperature, dim=1)
    teacher = F.softmax(teacher_logits.float() / temperature, dim=1)
    scale = temperature * temperature
    inter = scale * (1.0 - pearson(student, teacher).mean())
    intra = scale * (1.0 - pearson(student.t(), teacher.t()).mean())
    return inter, intra


@register("dist")
class RelationDistillation(DistillMethod):
    """Options: temperature, beta (inter-class weight), gamma (intra-class weight), ce_weight."""

    options = (
        MethodOption("temperature", float, 4.0, "Temperature T of both relation terms.", gt=0, short="-T"),
        MethodOption("beta", float, 1.0, "Weight β of the inter-class relation (per-sample Pearson).", ge=0),
        MethodOption(
            "gamma", float, 1.0, "Weight γ of the intra-class relation (per-class Pearson over the batch).", ge=0
        ),
        MethodOption("ce_weight", float, 1.0, "Weight of the CE term on the labels.", ge=0),
    )

    def forward(self, pixels: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student_logits(pixels)
        teacher = ensemble_logits(self.targets.logits(pixels, batch), self.ensemble)
        inter, intra = dist_terms(logits, teacher, self.temperature)
        ce_each, labelled = self.label_terms(logits, batch)
        ce_sum = ce_each.sum()  # unlabeled samples add no CE (the mean is over the batch)
        loss = self.ce_weight * ce_sum / len(batch) + self.beta * inter + self.gamma * intra
        return {
            "loss": loss,
            "output": logits,
            "ce": (ce_sum / labelled.sum().clamp_min(1)).detach(),
            "inter": inter.detach(),
            "intra": intra.detach(),
        }
