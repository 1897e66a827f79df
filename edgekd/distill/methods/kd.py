"""`--method kd`: Hinton et al. 2015, "Distilling the Knowledge in a Neural Network".

    loss = (1 − α)·CE(student, labels) + α·T²·KL(softmax(t/T) ‖ softmax(s/T))

KL with `batchmean` reduction; T² applied at every T (also when α = 1). With several teachers
the soft target is the mean of their probabilities at T (`--ensemble prob`) or the softmax
of their mean logits (`--ensemble logit`). After training the student is a plain classifier.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.data import Batch, ModelInput
from edgekd.distill.config import DEFAULT_ALPHA, DEFAULT_TEMPERATURE
from edgekd.distill.losses import kd_loss, soft_targets, standardize_logits
from edgekd.distill.methods.base import DistillMethod, register


@register("kd")
class KnowledgeDistillation(DistillMethod):
    """Args (besides `DistillMethod`'s): temperature T > 0, alpha α in [0, 1], ensemble rule,
    kd_loss `kl` (Hinton) or `kl-std` (the soft term on per-sample standardized logits of
    student and teachers; the CE term keeps the raw logits)."""

    def __init__(self, student: nn.Module, student_input: ModelInput, targets, *, temperature: float = DEFAULT_TEMPERATURE, alpha: float = DEFAULT_ALPHA, ensemble: str = "prob", label_smoothing: float = 0.0, kd_loss: str = "kl"):
        super().__init__(student, student_input, targets, label_smoothing)
        self.temperature = temperature
        self.alpha = alpha
        self.ensemble = ensemble
        self.kd_loss = kd_loss

    @classmethod
    def build(cls, config, student, student_input, targets):
        return cls(student, student_input, targets, temperature=config.temperature, alpha=config.alpha, ensemble=config.ensemble, label_smoothing=config.label_smoothing, kd_loss=config.kd_loss)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "temperature": self.temperature, "alpha": self.alpha, "ensemble": self.ensemble, "kd_loss": self.kd_loss}

    def kd_terms(self, logits: torch.Tensor, batch: Batch, teacher_logits: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The KD loss and its terms for student `logits` and the teachers' logits.

        Per sample: labelled ones (label >= 0) take (1−α)·CE + α·T²·KL; unlabeled ones (label
        −1, from an `unlabeled:PATH` transfer set) take the soft term alone, T²·KL (weight 1).
        The loss is the mean over the batch; `ce` is the mean over its labelled samples (0 if none).
        """
        soft_logits = logits
        if self.kd_loss == "kl-std":
            teacher_logits = [standardize_logits(t) for t in teacher_logits]
            soft_logits = standardize_logits(logits)
        targets = soft_targets(teacher_logits, self.temperature, self.ensemble)
        labelled = batch.labels >= 0
        if bool(labelled.all()):  # the common case, kept as the plain batch-mean formula
            ce = F.cross_entropy(logits, batch.labels, label_smoothing=self.label_smoothing)
            kd = kd_loss(soft_logits, targets, self.temperature)
            loss = (1.0 - self.alpha) * ce + self.alpha * kd
            return {"loss": loss, "output": logits, "ce": ce.detach(), "kd": kd.detach()}
        kd_each = kd_loss(soft_logits, targets, self.temperature, reduction="none")
        ce_each = F.cross_entropy(logits, batch.labels.clamp_min(0), label_smoothing=self.label_smoothing, reduction="none")
        loss = torch.where(labelled, (1.0 - self.alpha) * ce_each + self.alpha * kd_each, kd_each).mean()
        count = labelled.sum()
        ce = (ce_each * labelled).sum() / count.clamp_min(1)
        return {"loss": loss, "output": logits, "ce": ce.detach(), "kd": kd_each.mean().detach()}

    def forward(self, pixels: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student_logits(pixels)
        return self.kd_terms(logits, batch, self.targets.logits(pixels, batch))
