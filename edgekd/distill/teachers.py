"""Loading teachers (run directories, edgekd artefacts, bare timm checkpoints) and running them.

A teacher is frozen: eval mode at all times, no gradients, channels_last (the fast layout on
CPU and CUDA, see `edgekd.engine.device.use_channels_last`). Each teacher keeps its own input
size and normalisation (`ModelInput`), applied to the same augmented [0, 1] batch the student sees.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from edgekd.artifacts import sha256_file
from edgekd.data import InputSpec, ModelInput, fit_channels
from edgekd.data.dataset import IMAGENET_MEAN, IMAGENET_STD
from edgekd.errors import ConfigError, ModelError
from edgekd.models import (
    ModelCard,
    create_model,
    pretrained_defaults,
    read_card,
    read_state_dict,
    resolve_arch,
    resolve_model_path,
)


@dataclass
class Teacher:
    """A loaded teacher.

    Attributes:
        path: its weights file.
        sha256: hex sha256 of that file (what caches and student cards refer to).
        class_names: the classes it was trained on, in output order (None for a bare checkpoint).
        card: its model card, None for a bare checkpoint.
    """

    path: Path
    arch: str
    sha256: str
    input: InputSpec
    num_classes: int
    class_names: list[str] | None
    model: nn.Module
    card: ModelCard | None = None

    @property
    def cache_id(self) -> str:
        """Identity of this teacher's outputs: its weights and its input (size, mean, std)."""
        blob = json.dumps({"sha256": self.sha256, "input": self.input.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "input": self.input.to_dict(),
            "has_card": self.card is not None,
        }


def load_teacher(
    source: str | Path,
    *,
    arch: str | None = None,
    img_size: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    default_img_size: int = 32,
) -> Teacher:
    """Load a teacher from a run directory, an edgekd `.safetensors` + card, or a bare checkpoint.

    Args:
        source: directory (its teacher.safetensors, else student.safetensors) or weights file.
        arch: timm architecture; needed for a bare checkpoint (no card beside it).
        img_size, mean, std: input of a bare checkpoint (defaults: `default_img_size`, timm's
            pretrained normalisation of `arch`, else ImageNet's).
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise ModelError(
            f"teacher not found: {source}; pass a run directory (with teacher.safetensors) or a weights file."
        )
    weights_path = resolve_model_path(source, preferred=("teacher", "student"))
    card = read_card(weights_path)
    if card is None:
        return _load_bare(weights_path, arch, img_size or default_img_size, mean, std)
    if arch is not None and resolve_arch(arch) != card.arch:
        raise ConfigError(
            f"--teacher-arch {arch} contradicts {weights_path.with_suffix('.json').name}, which says "
            f"'{card.arch}'; drop --teacher-arch."
        )
    model = create_model(card.arch, card.num_classes, card.input.in_chans)
    _load_state(model, read_state_dict(weights_path), weights_path, card.arch)
    return Teacher(
        weights_path,
        card.arch,
        sha256_file(weights_path),
        card.input,
        card.num_classes,
        list(card.class_names),
        _freeze(model),
        card,
    )


def _load_bare(weights_path: Path, arch: str | None, img_size: int, mean, std) -> Teacher:
    if arch is None:
        raise ModelError(
            f"{weights_path} has no model card ({weights_path.with_suffix('.json').name}); give its timm "
            "architecture with --teacher-arch."
        )
    arch = resolve_arch(arch)
    state = read_state_dict(weights_path)
    defaults = pretrained_defaults(arch)
    classifier = defaults.get("classifier") or "fc"
    classifier = classifier[0] if isinstance(classifier, (list, tuple)) else classifier
    weight = state.get(f"{classifier}.weight")
    if weight is None:
        raise ModelError(
            f"{weights_path} has no '{classifier}.weight' (the classifier of {arch}); is it a {arch} checkpoint?"
        )
    num_classes = int(weight.shape[0])
    first_conv = defaults.get("first_conv") or ""
    first_conv = first_conv[0] if isinstance(first_conv, (list, tuple)) else first_conv
    stem = state.get(f"{first_conv}.weight")
    in_chans = int(stem.shape[1]) if stem is not None and stem.dim() == 4 else 3
    spec = InputSpec(
        img_size,
        in_chans,
        fit_channels(tuple(mean or defaults.get("mean") or IMAGENET_MEAN), in_chans),
        fit_channels(tuple(std or defaults.get("std") or IMAGENET_STD), in_chans),
    )
    model = create_model(arch, num_classes, in_chans)
    _load_state(model, state, weights_path, arch)
    return Teacher(weights_path, arch, sha256_file(weights_path), spec, num_classes, None, _freeze(model))


def _load_state(model: nn.Module, state: dict, path: Path, arch: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{path} does not fit '{arch}': {str(exc).splitlines()[0]}") from exc


def _freeze(model: nn.Module) -> nn.Module:
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval().to(memory_format=torch.channels_last)


def check_class_names(teacher: Teacher, class_names: list[str], data_spec: str) -> None:
    """Refuse a teacher whose classes are not the data's (names and order); say which differ.

    A bare checkpoint has no names: it is accepted when its class count matches.
    """
    if teacher.class_names is None:
        if teacher.num_classes != len(class_names):
            raise ConfigError(
                f"teacher {teacher.path} outputs {teacher.num_classes} classes but {data_spec} has {len(class_names)}."
            )
        return
    if teacher.class_names == class_names:
        return
    teacher_only = [n for n in teacher.class_names if n not in class_names]
    data_only = [n for n in class_names if n not in teacher.class_names]
    if teacher_only or data_only:
        parts = ([f"only the teacher has {', '.join(teacher_only)}"] if teacher_only else []) + (
            [f"only the data has {', '.join(data_only)}"] if data_only else []
        )
        detail = "; ".join(parts)
    else:
        moved = [
            f"{n} (teacher #{teacher.class_names.index(n)}, data #{i})"
            for i, n in enumerate(class_names)
            if teacher.class_names[i] != n
        ]
        detail = f"same classes in another order: {', '.join(moved[:5])}"
    raise ConfigError(
        f"teacher {teacher.path} was trained on other classes than {data_spec}: {detail}. Distil on the teacher's "
        "data, or retrain the teacher."
    )


def check_teachers_agree(teachers: list[Teacher]) -> None:
    """Refuse an ensemble whose teachers differ in class names or order (or, for bare
    checkpoints, in class count); the message names the first teacher and each that differs."""
    if len(teachers) < 2:
        return
    first = teachers[0]
    for other in teachers[1:]:
        if first.class_names is not None and other.class_names is not None:
            if other.class_names == first.class_names:
                continue
            only_first = [n for n in first.class_names if n not in other.class_names]
            only_other = [n for n in other.class_names if n not in first.class_names]
            if only_first or only_other:
                detail = "; ".join(
                    ([f"only the first has {', '.join(only_first)}"] if only_first else [])
                    + ([f"only the second has {', '.join(only_other)}"] if only_other else [])
                )
            else:
                detail = "same classes in another order"
            raise ConfigError(
                f"teachers {first.path} and {other.path} have different class lists ({detail}): every teacher of "
                "an ensemble must share class names and order."
            )
        if other.num_classes != first.num_classes:
            raise ConfigError(
                f"teachers {first.path} ({first.num_classes} classes) and {other.path} ({other.num_classes} "
                "classes) have different class lists: every teacher of an ensemble must share class names and "
                "order."
            )


class TeacherBank(nn.Module):
    """The frozen teachers of a run, each with its own input adapter.

    Kept inside the training task so that moving the task moves them, but `train()` never
    takes them out of eval mode and they never enter the optimizer or the checkpoint.
    """

    def __init__(self, teachers: list[Teacher]):
        super().__init__()
        self.teachers = teachers
        self.models = nn.ModuleList([t.model for t in teachers])
        self.inputs = nn.ModuleList([ModelInput(t.input) for t in teachers])
        self.eval()

    def __len__(self) -> int:
        return len(self.teachers)

    def train(self, mode: bool = True) -> "TeacherBank":
        return super().train(False)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor, which: Iterable[int] | None = None) -> dict[int, torch.Tensor]:
        """Logits (B, num_classes) of the chosen teachers (all by default), by teacher index.

        Args:
            pixels: the augmented [0, 1] float batch (B, C, H, W) the student sees.
        """
        chosen = range(len(self.models)) if which is None else which
        return {i: self.models[i](self.inputs[i](pixels)) for i in chosen}
