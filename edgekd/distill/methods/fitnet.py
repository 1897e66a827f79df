"""`--method fitnet`: Romero et al. 2015, "FitNets: Hints for Thin Deep Nets".

Stage 1 (the first `--hint-epochs` of `--epochs`): the student up to its guided layer, plus an
adaptation layer, regresses the teacher's hint-layer features (MSE); the rest of the student
is neither run nor updated. Stage 2: the whole student trains with KD, plus β·hint when
`--beta` > 0. Layers are module paths, or paired automatically through timm `feature_info`
(the student's middle stage, the teacher's stage of the same stride). With several teachers,
hints come from the first. The adaptation layer is not part of the saved student.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgekd.data import Batch, ModelInput
from edgekd.distill.adapters import build_adapter
from edgekd.distill.losses import hint_loss
from edgekd.distill.methods.base import register
from edgekd.distill.methods.kd import KnowledgeDistillation
from edgekd.distill.methods.options import MethodOption
from edgekd.engine import Predictions
from edgekd.errors import ConfigError
from edgekd.models.features import FeatureTaps, auto_pair, layer_shape


class StudentSide(nn.Module):
    """What the student side runs each step: the student, its guided-layer tap and the adapter.

    One module so that DDP wraps (and synchronises) the student and the adapter together.
    `forward` returns only what the step uses, so that DDP knows which parameters got no
    gradient (stage 1 leaves the layers after the guided one unused).
    """

    def __init__(self, student: nn.Module, adapter: nn.Module, guided_taps: FeatureTaps, guided_layer: str):
        super().__init__()
        self.student = student
        self.adapter = adapter
        self.guided_taps = guided_taps
        self.guided_layer = guided_layer

    def forward(self, inputs: torch.Tensor, mode: str) -> dict[str, torch.Tensor]:
        """mode: `hint` (up to the guided layer), `kd` (logits) or `kd+hint` (both)."""
        if mode == "hint":
            return {"hint": self.adapter(self.guided_taps.run_until(self.student, inputs, self.guided_layer))}
        out = {"logits": self.student(inputs)}
        if mode == "kd+hint":
            out["hint"] = self.adapter(self.guided_taps[self.guided_layer])
        return out


@register("fitnet")
class FitNet(KnowledgeDistillation):
    """Options (besides KD's): hint_layer, guided_layer (None: automatic), hint_epochs (stage 1
    length, within the run's epochs), beta (weight of the hint loss in stage 2)."""

    options = KnowledgeDistillation.options + (
        MethodOption(
            "hint_layer", str, None, "Teacher layer (module path; default: timm stage with the guided layer's stride)."
        ),
        MethodOption("guided_layer", str, None, "Student layer (module path; default: its middle timm stage)."),
        MethodOption("hint_epochs", int, 1, "Epochs of stage 1 (hint regression), counted within --epochs.", ge=0),
        MethodOption("beta", float, 0.0, "Weight β of the hint loss added to KD in stage 2 (0: KD alone).", ge=0),
        # per-stage: stage 2 starts the classifier and the layers after the guided one from scratch,
        # so it gets the warm-up the student alone gets (docs/benchmark.md, "FitNet with the warm-up").
        MethodOption(
            "stage_schedule",
            str,
            "per-stage",
            "lr schedule of the two stages: per-stage (stage 2 restarts warm-up and cosine) or shared (one "
            "cosine over --epochs, its warm-up spent in stage 1).",
            choices=("per-stage", "shared"),
        ),
    )

    def __init__(self, student: nn.Module, student_input: ModelInput, targets, **settings):
        super().__init__(student, student_input, targets, **settings)
        teacher, teacher_spec = targets.bank.models[0], targets.bank.teachers[0].input
        spec = student_input.spec
        self.hint_layer, self.guided_layer = auto_pair(
            teacher,
            student,
            student_size=spec.size,
            student_chans=spec.in_chans,
            hint_layer=self.hint_layer,
            guided_layer=self.guided_layer,
        )
        self.hint_shape = layer_shape(teacher, self.hint_layer, teacher_spec.size, teacher_spec.in_chans)
        self.guided_shape = layer_shape(student, self.guided_layer, spec.size, spec.in_chans)
        self.adapter = build_adapter(self.guided_shape, self.hint_shape)
        self.hint_taps = FeatureTaps(teacher, [self.hint_layer], detach=True)
        guided_taps = FeatureTaps(student, [self.guided_layer])
        # Outside the module tree (like `student_call`): it only re-references student and adapter.
        self.__dict__["side"] = StudentSide(student, self.adapter, guided_taps, self.guided_layer)
        self.__dict__["side_call"] = self.side

    @classmethod
    def check_run(cls, config, settings):
        if settings["hint_epochs"] >= config.train.epochs:
            raise ConfigError(
                f"--hint-epochs ({settings['hint_epochs']}) must be smaller than --epochs ({config.train.epochs}): "
                "--epochs counts both FitNet stages and stage 2 (KD) needs at least one epoch."
            )
        if config.train.compile:
            raise ConfigError(
                "--compile is not supported with --method fitnet (its hint stage stops the student mid-forward); "
                "drop --compile."
            )

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "hint_shape": list(self.hint_shape),
            "guided_shape": list(self.guided_shape),
            "adapter": " → ".join(type(m).__name__ for m in self.adapter),
        }

    def trainable_modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, "adapter": self.adapter}

    def prepare_distributed(self, device: torch.device) -> None:
        """Wrap student and adapter together; unused parameters change between stages."""
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [device.index] if device.type == "cuda" else None
        if any(
            p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
            for p in self.student.parameters()
        ):
            # Match the student's layout, or DDP's gradient buckets mismatch the adapter's grads.
            self.adapter.to(memory_format=torch.channels_last)
        self.__dict__["side_call"] = DistributedDataParallel(
            self.side, device_ids=device_ids, find_unused_parameters=True
        )

    def schedule_restarts(self) -> tuple[int, ...]:
        return (self.hint_epochs,) if self.stage_schedule == "per-stage" and self.hint_epochs > 0 else ()

    @property
    def in_hint_stage(self) -> bool:
        return self.epoch < self.hint_epochs

    def epoch_metrics(self, val: Predictions | None) -> dict[str, Any]:
        return {"stage": "hint" if self.in_hint_stage else "kd", **super().epoch_metrics(val)}

    def forward(self, pixels: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        inputs = self.student_input(pixels)
        if self.in_hint_stage:
            adapted = self.side_call(inputs, "hint")["hint"]
            self.targets.logits(pixels, batch, run=[0])  # the teacher's hint arrives through its tap
            hint = hint_loss(adapted, self.hint_taps[self.hint_layer])
            self.side.guided_taps.clear()
            return {"loss": hint, "hint": hint.detach()}
        with_hint = self.beta > 0
        out = self.side_call(inputs, "kd+hint" if with_hint else "kd")
        terms = self.kd_terms(out["logits"], batch, self.targets.logits(pixels, batch, run=[0] if with_hint else ()))
        if with_hint:
            hint = hint_loss(out["hint"], self.hint_taps[self.hint_layer])
            terms["loss"] = terms["loss"] + self.beta * hint
            terms["hint"] = hint.detach()
        self.side.guided_taps.clear()
        return terms
