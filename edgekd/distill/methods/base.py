"""The base class of distillation methods and their registry (mdistiller's shape).

A method is a `TrainingTask`: `forward(pixels, batch)` returns `loss`, `output` (the student's
logits) and each loss term by name. It is built from a `DistillConfig` by its `build`
classmethod, so the stage never branches on the method's name. A new method is one new file
in this package with `@register("name")` on its class, imported in `methods/__init__.py`; its
settings are declared once in `options` (see `edgekd.distill.methods.options`), from which the
CLI flags, the pipeline keys, validation and the recorded settings are derived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from edgekd.data import Batch, ModelInput
from edgekd.distill.methods.options import MethodOption
from edgekd.distill.mixing import MixedBatch, mix_before_forward
from edgekd.engine import Predictions, TrainConfig, TrainingTask
from edgekd.errors import ConfigError

if TYPE_CHECKING:
    from edgekd.distill.mixing import BatchMixer
    from edgekd.distill.targets import TeacherTargets

METHODS: dict[str, type["DistillMethod"]] = {}


class RunOptions(Protocol):
    """What a method reads of the stage's options (`DistillConfig` has them all).

    A protocol rather than `DistillConfig` itself: the config looks methods up in `METHODS` to
    validate them, so the methods must not import it back.
    """

    @property
    def method_options(self) -> Mapping[str, Any]: ...

    @property
    def label_smoothing(self) -> float: ...

    @property
    def ensemble(self) -> str: ...

    @property
    def train(self) -> TrainConfig: ...


def register(name: str):
    """Class decorator adding a method to `METHODS` under `name` (the `--method` value)."""

    def add(cls: type["DistillMethod"]) -> type["DistillMethod"]:
        for option in cls.options:
            # One flag serves every method declaring the name, so they must agree on its type.
            clash = [
                m for m, other in all_options().get(option.name, ()) if other.type is not option.type and m != name
            ]
            if clash:
                raise TypeError(
                    f"method '{name}' declares option '{option.name}' as {option.type.__name__}, method "
                    f"'{clash[0]}' as another type"
                )
        cls.name = name
        METHODS[name] = cls
        return cls

    return add


def all_options() -> dict[str, list[tuple[str, MethodOption]]]:
    """Every option name any registered method declares → [(method, its declaration), …]."""
    found: dict[str, list[tuple[str, MethodOption]]] = {}
    for method, cls in METHODS.items():
        for option in cls.options:
            found.setdefault(option.name, []).append((method, option))
    return found


class DistillMethod(TrainingTask):
    """Trains `student`, optionally from frozen teachers.

    Args:
        student: the model being trained (a plain timm model; what gets saved).
        student_input: its input adapter.
        targets: the teachers' logits per batch (online or cached); None when the method
            uses no teacher (the teachers are then only measured, never in the loss).
        label_smoothing: of the CE term.
        ensemble: how several teachers combine (`prob` or `logit`, see `losses.soft_targets`).
        **settings: the declared `options`, by name; each is kept as an attribute of that name.

    Attributes:
        uses_teacher: whether the loss needs a teacher (`--teacher` is then required).
        options: the method's settings, declared once (flags, pipeline keys and validation
            are derived from them). A subclass extends its parent's: `Parent.options + (...)`.
        reference_val: the teachers' val predictions, for `val_agreement` in each epoch's record.
        mixer: mixes every training batch before `forward` sees it (`--mix`; set by the stage),
            so `forward(pixels, batch)` receives the mixed views and a `MixedBatch`.
    """

    name: ClassVar[str] = ""
    uses_teacher: ClassVar[bool] = True
    options: ClassVar[tuple[MethodOption, ...]] = ()

    def __init__(
        self,
        student: nn.Module,
        student_input: ModelInput,
        targets: "TeacherTargets | None",
        label_smoothing: float = 0.0,
        ensemble: str = "prob",
        **settings: Any,
    ):
        super().__init__(student, student_input)
        self.targets = targets
        # Registered so that moving the task moves the teachers; `TeacherBank.train` keeps
        # them in eval mode and `trainable_modules` leaves them out of optimizer and checkpoint.
        self.teachers = targets.bank if targets is not None else None
        self.label_smoothing = label_smoothing
        self.ensemble = ensemble
        for name, value in self.resolve_options(settings).items():
            setattr(self, name, value)
        self.mixer: "BatchMixer | None" = None
        self.register_forward_pre_hook(mix_before_forward)
        self.epoch = 0
        self.reference_val: Predictions | None = None
        # What the student learns from (sets, sizes, fingerprints), set by the stage; every
        # epoch's metrics.jsonl record carries it.
        self.train_data: dict[str, Any] | None = None

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared option's value: `given` where set (None counts as unset), else the
        declared default; checked against its type and range.

        Raises:
            ConfigError: an option this method does not declare (naming the methods that
                do), or a value out of range.
        """
        declared = {option.name: option for option in cls.options}
        foreign = [name for name, value in given.items() if value is not None and name not in declared]
        if foreign:
            owners = sorted({m for name in foreign for m, option in all_options().get(name, ())})
            flags = ", ".join("--" + name.replace("_", "-") for name in foreign)
            where = f"--method {' or '.join(owners)}" if owners else "no method"
            raise ConfigError(f"{flags} only apply to {where} (this run uses --method {cls.name}).")
        resolved = {}
        for name, option in declared.items():
            value = given.get(name)
            resolved[name] = option.default if value is None else option.check(value, cls.name)
        return resolved

    @classmethod
    def check_run(cls, config: RunOptions, settings: dict[str, Any]) -> None:
        """Refuse run settings this method cannot train with (beyond each option's range),
        e.g. FitNet's hint stage longer than the run; `settings` is `resolve_options`'s."""

    @classmethod
    def build(
        cls, config: RunOptions, student: nn.Module, student_input: ModelInput, targets: "TeacherTargets | None"
    ) -> "DistillMethod":
        """Create the method from the stage's config: its declared options from
        `config.method_options`, the shared ones (label smoothing, ensemble rule) from the config."""
        return cls(
            student,
            student_input,
            targets,
            label_smoothing=config.label_smoothing,
            ensemble=config.ensemble,
            **config.method_options,
        )

    def describe(self) -> dict[str, Any]:
        """The method's settings as recorded in student.json and the metrics."""
        mix = {"mix": self.mixer.recipe.describe()} if self.mixer is not None else {}
        return {
            "method": self.name,
            "label_smoothing": self.label_smoothing,
            **{option.name: getattr(self, option.name) for option in self.options},
            **mix,
        }

    def label_terms(self, logits: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The label term per sample and which samples have one: (CE (B,), labelled (B,) bool).

        CE is label-smoothed; for a `MixedBatch`, λ·CE(label) + (1 − λ)·CE(partner's label).
        Unlabeled samples (label −1, or a partner's −1) have CE 0 and `labelled` False.
        """
        ce = F.cross_entropy(logits, batch.labels.clamp_min(0), label_smoothing=self.label_smoothing, reduction="none")
        labelled = batch.labels >= 0
        if isinstance(batch, MixedBatch):
            partner_ce = F.cross_entropy(
                logits, batch.partner_labels.clamp_min(0), label_smoothing=self.label_smoothing, reduction="none"
            )
            ce = batch.lam * ce + (1.0 - batch.lam) * partner_ce
            labelled = labelled & (batch.partner_labels >= 0)
        return ce * labelled, labelled

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
