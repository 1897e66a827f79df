"""Training tasks: what the engine optimises, behind one interface.

A task is an `nn.Module` whose `forward(pixels, batch)` returns a dict with `loss`, `output`
(the student's logits) and each loss term by name, so the training loop never knows which
method it runs (timm's `timm/task` shape). Teacher training is a `ClassificationTask`;
distillation methods are tasks too. A task may leave `output` out of steps that produce no
logits (e.g. FitNet's hint stage); such steps do not count towards train top-1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.data import Batch, ModelInput

if TYPE_CHECKING:
    from edgekd.engine.metrics import Predictions


class TrainingTask(nn.Module):
    """Base class: holds the model being trained (`student`) and how to feed it.

    Args:
        student: the model whose weights are the result of training.
        student_input: its input adapter ([0, 1] pixels → normalised model input).
    """

    student_call: Callable[..., Any]  # in __dict__ (set below), not a registered submodule

    def __init__(self, student: nn.Module, student_input: ModelInput):
        super().__init__()
        self.student = student
        self.student_input = student_input
        # What forward() calls: the student itself, or its DDP/compiled wrapper. Kept out of
        # the module tree so that state dicts never hold the student twice.
        self.__dict__["student_call"] = student

    def trainable_modules(self) -> dict[str, nn.Module]:
        """Modules whose parameters the optimizer updates and checkpoints save, by name."""
        return {"student": self.student}

    def prepare_distributed(self, device: torch.device) -> None:
        """Wrap only the student in DDP (a frozen teacher needs no gradient sync)."""
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [device.index] if device.type == "cuda" else None
        self.__dict__["student_call"] = DistributedDataParallel(self.student, device_ids=device_ids)

    def compile(self) -> None:  # noqa: A003 - mirrors nn.Module.compile's name on purpose
        """torch.compile the student's forward (the loss stays eager)."""
        self.__dict__["student_call"] = torch.compile(self.student_call)

    def schedule_restarts(self) -> tuple[int, ...]:
        """Epochs at which the lr schedule starts over (warm-up, then a fresh cosine to the
        run's end or the next restart), e.g. at a new training stage; () for one schedule."""
        return ()

    def start_epoch(self, epoch: int) -> None:
        """Hook for tasks whose behaviour changes between epochs (e.g. training stages)."""

    def end_epoch(self, epoch: int) -> None:
        """Hook called on every process after an epoch's last step, before validation
        (e.g. to flush per-epoch outputs such as a teacher-logit cache)."""

    def epoch_metrics(self, val: Predictions | None) -> dict[str, Any]:
        """Extra figures for the epoch's metrics record, from the val predictions of the
        evaluated model (None when there is no val split), e.g. agreement with a teacher."""
        return {}

    def forward(self, pixels: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class ClassificationTask(TrainingTask):
    """Supervised training with cross-entropy (optionally label-smoothed)."""

    def __init__(self, student: nn.Module, student_input: ModelInput, label_smoothing: float = 0.0):
        super().__init__(student, student_input)
        self.label_smoothing = label_smoothing

    def forward(self, pixels: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.student_call(self.student_input(pixels))
        ce = F.cross_entropy(logits, batch.labels, label_smoothing=self.label_smoothing)
        return {"loss": ce, "output": logits, "ce": ce.detach()}
