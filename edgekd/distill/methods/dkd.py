"""`--method dkd`: Zhao et al. 2022, "Decoupled Knowledge Distillation" (mdistiller's DKD).

KD's soft term splits into the target class's binary part (TCKD: the teacher's confidence in
the true class) and the distribution over the other classes (NCKD), weighted on their own:

    loss = ce_weight·CE + w(t)·(α·TCKD + β·NCKD),  both terms ×T²
    TCKD = KL([p_t, 1 − p_t]_teacher ‖ [p_t, 1 − p_t]_student)         at temperature T
    NCKD = KL(softmax((z − 1000·1_target)/T)_teacher ‖ same of student)  (target logit masked)

`w(t)` warms the distillation term up linearly over the first `warmup` share of the run (in
steps), so that a 4-epoch run is not starved as mdistiller's fixed 20 epochs would starve it.
Samples without a label (an `unlabeled:PATH` transfer set) take the teacher's top-1 as their
target class and no CE; on mixed views (`--mix`) the target class is the larger share's label.
With several teachers the target logits are `ensemble_logits`.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F

from edgekd.data import Batch
from edgekd.distill.losses import ensemble_logits
from edgekd.distill.methods.base import DistillMethod, register
from edgekd.distill.methods.options import MethodOption
from edgekd.distill.mixing import MixedBatch


def dkd_terms(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(TCKD, NCKD), each the batch mean ×T², float32.

    Args:
        student_logits, teacher_logits: (B, num_classes).
        target: (B,) int64 class per sample (the part TCKD binarises and NCKD masks out).
    """
    student, teacher = student_logits.float() / temperature, teacher_logits.float() / temperature
    is_target = F.one_hot(target, student.shape[1]).bool()
    scale = temperature * temperature / student.shape[0]

    def log_binary(logits: torch.Tensor) -> torch.Tensor:
        """(B, 2): log [p_target, 1 − p_target], in log space: 1 − p_target never rounds to 0."""
        total = torch.logsumexp(logits, dim=1)
        log_target = logits[is_target] - total
        log_others = torch.logsumexp(logits.masked_fill(is_target, float("-inf")), dim=1) - total
        return torch.stack([log_target, log_others], dim=1)

    tckd = F.kl_div(log_binary(student), log_binary(teacher), reduction="sum", log_target=True) * scale
    mask = 1000.0 * is_target
    nckd = F.kl_div(F.log_softmax(student - mask, dim=1), F.softmax(teacher - mask, dim=1), reduction="sum") * scale
    return tckd, nckd


@register("dkd")
class DecoupledKD(DistillMethod):
    """Options: temperature, alpha (TCKD weight), beta (NCKD weight), ce_weight, warmup."""

    options = (
        MethodOption("temperature", float, 4.0, "Temperature T of TCKD and NCKD.", gt=0, short="-T"),
        MethodOption("alpha", float, 1.0, "Weight α of TCKD (the target class's binary KL).", ge=0),
        MethodOption("beta", float, 8.0, "Weight β of NCKD (KL over the non-target classes).", ge=0),
        MethodOption("ce_weight", float, 1.0, "Weight of the CE term on the labels.", ge=0),
        MethodOption(
            "warmup",
            float,
            0.1,
            "Share of the run (in steps) over which the distillation term ramps up linearly from 0.",
            ge=0,
            le=1,
        ),
    )

    @classmethod
    def build(cls, config, student, student_input, targets):
        task = super().build(config, student, student_input, targets)
        task.total_epochs = config.train.epochs
        return task

    def __init__(self, student, student_input, targets, **settings):
        super().__init__(student, student_input, targets, **settings)
        self.total_epochs = 1
        self._seen = 0  # samples this process has trained on in this epoch

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        self._seen = 0

    def warmup_weight(self) -> float:
        """w(t) in [0, 1]: the share of the run done (epochs and this epoch's samples) over `warmup`."""
        if self.warmup <= 0:
            return 1.0
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        per_epoch = math.ceil(self.targets.num_samples / world) if self.targets is not None else 1
        done = (self.epoch + min(self._seen / max(per_epoch, 1), 1.0)) / max(self.total_epochs, 1)
        return min(done / self.warmup, 1.0)

    def forward(self, pixels: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student_logits(pixels)
        teacher = ensemble_logits(self.targets.logits(pixels, batch), self.ensemble)
        # One class per sample for the decoupling: its label (on a mixed view, the larger
        # share's), or the teacher's top-1 where there is no label.
        labels = batch.dominant_labels if isinstance(batch, MixedBatch) else batch.labels
        target = torch.where(labels >= 0, labels, teacher.argmax(dim=1))
        tckd, nckd = dkd_terms(logits, teacher, target, self.temperature)
        ce_each, labelled = self.label_terms(logits, batch)
        ce_sum = ce_each.sum()  # unlabeled samples add no CE (their mean is over the batch)
        ce = ce_sum / labelled.sum().clamp_min(1)
        self._seen += len(batch)
        weight = self.warmup_weight()
        loss = self.ce_weight * ce_sum / len(batch) + weight * (self.alpha * tckd + self.beta * nckd)
        return {
            "loss": loss,
            "output": logits,
            "ce": ce.detach(),
            "tckd": tckd.detach(),
            "nckd": nckd.detach(),
            "kd_weight": torch.tensor(weight, device=logits.device),
        }
