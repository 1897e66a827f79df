"""`--method none`: the student alone, same recipe and data as the distillation runs.

It is the baseline every report compares against. Given `--teacher`, the teachers are only
measured (top-1, agreement with the student), never part of the loss.
"""

from __future__ import annotations

import torch

from edgekd.data import Batch
from edgekd.distill.methods.base import DistillMethod, register


@register("none")
class StudentAlone(DistillMethod):
    """Cross-entropy on the labels (optionally label-smoothed; both labels by λ on mixed views)."""

    uses_teacher = False

    def forward(self, pixels: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student_logits(pixels)
        ce = self.label_terms(logits, batch)[0].mean()
        return {"loss": ce, "output": logits, "ce": ce.detach()}
