"""The base class of distillation methods and their registry (mdistiller's shape).

A method is a `TrainingTask`: `forward(pixels, batch)` returns `loss`, `output` (the student's
logits) and each loss term by name. It is built from a `DistillConfig` by its `build`
classmethod, so the stage never branches on the method's name. A new method is one new file
in this package with `@register("name")` on its class, imported in `methods/__init__.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from edgekd.data import ModelInput
from edgekd.engine import Predictions, TrainingTask

if TYPE_CHECKING:
    from edgekd.distill.config import DistillConfig
    from edgekd.distill.targets import TeacherTargets

METHODS: dict[str, type["DistillMethod"]] = {}


def register(name: str):
    """Class decorator adding a method to `METHODS` under `name` (the `--method` value)."""

    def add(cls: type["DistillMethod"]) -> type["DistillMethod"]:
        cls.name = name
        METHODS[name] = cls
        return cls

    return add


class DistillMethod(TrainingTask):
    """Trains `student`, optionally from frozen teachers.

    Args:
        student: the model being trained (a plain timm model; what gets saved).
        student_input: its input adapter.
        targets: the teachers' logits per batch (online or cached); None when the method
            uses no teacher (the teachers are then only measured, never in the loss).
        label_smoothing: of the CE term.

    Attributes:
        uses_teacher: whether the loss needs a teacher (`--teacher` is then required).
        reference_val: the teachers' val predictions, for `val_agreement` in each epoch's record.
    """

    name: ClassVar[str] = ""
    uses_teacher: ClassVar[bool] = True

    def __init__(self, student: nn.Module, student_input: ModelInput, targets: "TeacherTargets | None", label_smoothing: float = 0.0):
        super().__init__(student, student_input)
        self.targets = targets
        # Registered so that moving the task moves the teachers; `TeacherBank.train` keeps
        # them in eval mode and `trainable_modules` leaves them out of optimizer and checkpoint.
        self.teachers = targets.bank if targets is not None else None
        self.label_smoothing = label_smoothing
        self.epoch = 0
        self.reference_val: Predictions | None = None
        # What the student learns from (sets, sizes, fingerprints), set by the stage; every
        # epoch's metrics.jsonl record carries it.
        self.train_data: dict[str, Any] | None = None

    @classmethod
    def build(cls, config: "DistillConfig", student: nn.Module, student_input: ModelInput, targets: "TeacherTargets | None") -> "DistillMethod":
        """Create the method from the stage's config (each method reads its own fields)."""
        return cls(student, student_input, targets, config.label_smoothing)

    def describe(self) -> dict[str, Any]:
        """The method's settings as recorded in student.json and the metrics."""
        return {"method": self.name, "label_smoothing": self.label_smoothing}

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.targets is not None:
            self.targets.start_epoch(epoch, self.student_input.mean.device)

    def end_epoch(self, epoch: int) -> None:
        if self.targets is not None:
            self.targets.end_epoch(epoch)

    def epoch_metrics(self, val: Predictions | None) -> dict[str, Any]:
        # Recorded once per run (its first epoch's record), not on every console line.
        record: dict[str, Any] = {"train_data": self.train_data} if self.train_data is not None else {}
        self.train_data = None
        if val is None or self.reference_val is None:
            return record
        return {"val_agreement": val.agreement(self.reference_val), **record}

    def student_logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """The student's logits for an augmented [0, 1] batch (through DDP/compile when set)."""
        return self.student_call(self.student_input(pixels))
