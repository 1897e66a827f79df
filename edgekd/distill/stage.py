"""The distillation stage: `run(DistillConfig, progress) -> DistillResult`.

Loads the teachers and the data, checks they agree on the classes, builds the method's
training task, runs the shared `Trainer` (checkpoint every epoch, `--resume`, Ctrl-C, NaN
stop, DDP under torchrun) and writes `DIR/student.safetensors` (a plain timm state dict) and
`DIR/student.json` (its model card: data, method, T, α, layers, teachers with sha256 and top-1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from edgekd.artifacts import provenance
from edgekd.data import Dataset, InputSpec, ModelInput
from edgekd.distill.bias import BiasShift, apply_shift, choose_shift, classifier_bias, parse_bias_adjust
from edgekd.distill.cache_use import cache_use_facts, disk_use, open_cache_entry
from edgekd.distill.card import card_metrics, student_metrics
from edgekd.distill.config import DistillConfig
from edgekd.distill.methods import METHODS, DistillMethod
from edgekd.distill.mixing import BatchMixer
from edgekd.distill.qad import QadRun
from edgekd.distill.references import TeacherReferences, teacher_references, top1_or_none
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import Teacher, TeacherBank, check_class_names, check_teachers_agree, load_teacher
from edgekd.distill.transfer import TrainingSet, build_training_set
from edgekd.engine import (
    FitResult,
    Progress,
    SilentProgress,
    Trainer,
    init_distributed,
    resolve_precision,
)
from edgekd.engine.device import is_main_process
from edgekd.engine.state import CHECKPOINT_NAME
from edgekd.engine.task import TrainingTask
from edgekd.errors import ConfigError
from edgekd.locks import folder_lock
from edgekd.models import ModelCard, create_model, input_spec_for, resolve_arch, save_model


@dataclass
class DistillResult:
    """What `run` produced.

    Attributes:
        weights_path: DIR/student.safetensors (written by rank 0).
        card: the student's model card (also DIR/student.json).
        fit: the training result (history, val/test predictions, img/s).
        teachers: per teacher: path, sha256, arch, val/test top-1 on this data.
    """

    weights_path: Path
    card: ModelCard
    fit: FitResult
    teachers: list[dict[str, Any]]


# `--bias-adjust` parsed: {class index: shift}, or the tolerance (val top-1 points) of `auto`.
BiasRule = dict[int, float] | float


def _load_teachers(config: DistillConfig) -> list[Teacher]:
    return [
        load_teacher(
            source,
            arch=config.teacher_arch,
            img_size=config.teacher_img_size,
            mean=config.teacher_mean,
            std=config.teacher_std,
            default_img_size=config.img_size,
        )
        for source in config.teacher
    ]


def run(config: DistillConfig, progress: Progress | None = None) -> DistillResult:
    """Train `config.student` with `config.method` and save it in `config.out_dir`.

    Args:
        config: the stage's options (see `DistillConfig`).
        progress: receives per-step progress and per-epoch records (rank 0 only); None is silent.

    Returns:
        The saved student's paths, card and training result.

    Raises:
        FolderInUse: another run is writing `config.out_dir`.
    """
    main = is_main_process()
    with folder_lock(config.out_dir, log=progress.log if progress is not None and main else None, enabled=main):
        return _distill(config, progress)


distill = run  # the former name, kept for the notebooks and tests that call it


def _distill(config: DistillConfig, progress: Progress | None) -> DistillResult:
    """The stage's steps in order; each helper below does one of them."""
    started = time.perf_counter()
    config, qad, method = _checked(config)
    student_arch = resolve_arch(config.student)
    teachers = _load_teachers(config)
    check_teachers_agree(teachers)
    context, device = init_distributed(config.device)
    log = progress.log if (progress is not None and context.is_main) else SilentProgress().log
    dataset = _load_data(config, teachers, log)
    training_set = _training_set(config, dataset, method, log)
    unseen = [i for i, seen in enumerate(training_set.seen) if not seen]
    bias_rule = _bias_rule(config, dataset, unseen)
    _log_training_set(training_set, log)

    spec = input_spec_for(student_arch, dataset, config.img_size, config.in_chans, config.pretrained)
    if qad is not None:  # the --from student's normalisation, not this run's data's
        spec = qad.input_spec(spec)
    student = _student(config, student_arch, spec, dataset, qad, log)
    if bias_rule is not None:
        classifier_bias(student)  # fail before training if the head has no bias to shift
    bank = TeacherBank(teachers).to(device) if teachers else None
    cache = (
        open_cache_entry(config.teacher_cache, config, dataset, training_set, teachers, context.is_main, log)
        if config.teacher_cache is not None
        else None
    )
    targets = (
        TeacherTargets(bank, cache, len(training_set.split), dataset.num_classes)
        if bank is not None and method.uses_teacher
        else None
    )
    task = _task(config, method, student, spec, targets, training_set)

    precision = resolve_precision(config.train.amp, device)
    references = teacher_references(config, bank, cache, dataset, teachers, device, precision, log)
    task.reference_val = references.ensemble_val
    if qad is not None:
        qad.measure_ptq(student, ModelInput(spec), dataset, device, config.train.eval_batch_size)
        log(
            "QAD: the calibrated student before training (PTQ): "
            + ", ".join(f"{k.replace('_', ' ')} {v:.2f} %" for k, v in qad.ptq.items())
        )

    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = (
        f"distill|{student_arch}|{dataset.fingerprint}|{config.train.describe()}|{spec}|{task.describe()}"
        f"|{[t.cache_id for t in teachers]}|{config.pretrained}|{training_set.fingerprint}"
    )
    trainer = Trainer(config.train, device, run_dir=out_dir, progress=progress, context=context, config_key=key)
    log(
        f"{config.method}: {student_arch} on {dataset.spec}: {len(training_set.split)} train / {len(dataset.val)} val"
        f" / {len(dataset.test)} test, {device}, {trainer.precision.describe()}, {context.world_size} process(es)"
    )
    train_data = replace(dataset, train=training_set.split)
    if not config.evaluate_test:  # an empty test split: the trainer never predicts it
        train_data.test = replace(dataset.test, labels=dataset.test.labels[:0], images=None, stream=None)
    fit = trainer.fit(task, train_data, resume=config.resume)
    shift, before = None, None
    if bias_rule is not None:
        shift, before = _shift_bias(fit, task, bias_rule, unseen, dataset, references, log)

    teacher_facts = references.facts()
    metrics = card_metrics(fit, dataset, training_set, references, config.ensemble, shift, before)
    training = {
        **task.describe(),
        "teachers": teacher_facts,
        **fit.run_facts(config.train.epochs, device, context.world_size, time.perf_counter() - started),
        "pretrained": config.pretrained,
        "train_data": training_set.describe(),
        "never_seen_classes": [dataset.class_names[c] for c in unseen],
    }
    if qad is not None:
        training["quantize"] = qad.describe()
    if targets is not None and cache is not None:
        disk = disk_use(config, dataset, training_set, cache, len(teachers))
        training["teacher_cache"] = cache_use_facts(cache, targets, disk, log)
    card = ModelCard(
        arch=student_arch,
        num_classes=dataset.num_classes,
        class_names=dataset.class_names,
        input=spec,
        role="student",
        dataset=dataset.describe(),
        metrics=metrics,
        training=training,
        provenance=provenance(config.describe(), seed=config.train.seed),
    )
    weights_path = out_dir / "student.safetensors"
    if context.is_main:
        (qad.save if qad is not None else save_model)(task.student, card, weights_path)
    return DistillResult(weights_path, card, fit, teacher_facts)


def _checked(config: DistillConfig) -> tuple[DistillConfig, QadRun | None, type[DistillMethod]]:
    """The validated config (QAD's defaults filled in), its QAD run (None: a float student) and its method."""
    config = config.validate(tuple(METHODS))
    qad = None
    if config.quantize is not None:  # quantization-aware distillation: see edgekd.distill.qad
        qad, config = QadRun.prepare(config)
    method = METHODS[config.method]
    if method.uses_teacher and not config.teacher:
        raise ConfigError(
            f"--method {config.method} needs a teacher: --teacher DIR|FILE (e.g. from 'edgekd teacher train'); "
            "--method none trains the student alone."
        )
    if config.teacher_cache is not None and not config.teacher:
        raise ConfigError("--teacher-cache stores teachers' logits: give --teacher too.")
    if config.resume and not (Path(config.out_dir) / CHECKPOINT_NAME).exists():
        raise ConfigError(
            f"--resume: no checkpoint at {Path(config.out_dir) / CHECKPOINT_NAME}; start without --resume."
        )
    return config, qad, method


def _load_data(config: DistillConfig, teachers: list[Teacher], log: Callable[[str], None]) -> Dataset:
    """The dataset, checked against every teacher's classes."""
    # Stored at the largest input so that no model sees needlessly upsampled evaluation images.
    dataset = config.data.load(max([config.img_size, *(t.input.size for t in teachers)]))
    for teacher in teachers:
        check_class_names(teacher, dataset.class_names, dataset.spec)
        if teacher.class_names is None:
            log(
                f"teacher {teacher.path.name} has no card: its {teacher.num_classes} outputs are taken to be "
                f"{dataset.spec}'s classes in order"
            )
    return dataset


def _training_set(
    config: DistillConfig, dataset: Dataset, method: type[DistillMethod], log: Callable[[str], None]
) -> TrainingSet:
    """What the student trains on: the labelled train split, a transfer set, or both (see `transfer.py`)."""
    training_set = build_training_set(
        dataset,
        transfer=config.transfer_data,
        ratio=config.transfer_ratio,
        limit_transfer=config.limit_transfer,
        drop_classes=config.drop_classes,
        seed=config.data.split_seed,
        workers=config.data.workers,
        data_dir=config.data.data_dir,
    )
    if training_set.labelled < len(training_set.split) and not method.uses_teacher:
        raise ConfigError(
            f"--method {config.method} learns from labels only, but the transfer set {config.transfer_data} is "
            "unlabeled: use --method kd (or fitnet)."
        )
    return training_set


def _bias_rule(config: DistillConfig, dataset: Dataset, unseen: list[int]) -> BiasRule | None:
    """`--bias-adjust` parsed against the classes the student never sees (None: no shift)."""
    bias_rule = parse_bias_adjust(config.bias_adjust, dataset.class_names, unseen) if config.bias_adjust else None
    if isinstance(bias_rule, float) and len(dataset.val) == 0:
        raise ConfigError(
            "--bias-adjust auto chooses the shift on the val split, but --val-size 0 left none: set --val-size "
            "(e.g. 0.1) or give NAME=VALUE."
        )
    return bias_rule


def _log_training_set(training_set: TrainingSet, log: Callable[[str], None]) -> None:
    if training_set.fingerprint is not None:
        for part in training_set.parts:
            log(
                f"learning from {part['name']} {part['spec']}: {part['used']} images ({part['kind']}"
                + (f", {part['dropped_images']} dropped" if part.get("dropped_images") else "")
                + f"), {part['per_epoch']} per epoch"
            )


def _student(
    config: DistillConfig,
    arch: str,
    spec: InputSpec,
    dataset: Dataset,
    qad: QadRun | None,
    log: Callable[[str], None],
) -> torch.nn.Module:
    """The student at its initial weights (seeded): timm's, or QAD's calibrated FP32 student."""
    torch.manual_seed(config.train.seed)
    if qad is None:
        return create_model(arch, dataset.num_classes, spec.in_chans, pretrained=config.pretrained)
    return qad.student(spec, dataset.num_classes, config.data.data_dir, log)


def _task(
    config: DistillConfig,
    method: type[DistillMethod],
    student: torch.nn.Module,
    spec: InputSpec,
    targets: TeacherTargets | None,
    training_set: TrainingSet,
) -> TrainingTask:
    """The method's training task, with its mixed views and what it trains on recorded."""
    task = method.build(config, student, ModelInput(spec), targets)
    if config.mix_recipe.enabled:
        task.mixer = BatchMixer(
            training_set.split, config.mix_recipe, config.train.augment, config.train.seed, (spec.size, spec.size)
        )
    task.train_data = {k: v for k, v in training_set.describe().items() if k != "parts"} | {
        "sets": [
            {k: p.get(k) for k in ("name", "spec", "kind", "used", "per_epoch", "fingerprint")}
            for p in training_set.parts
        ]
    }
    return task


def _shift_bias(
    fit: FitResult,
    task: TrainingTask,
    bias_rule: BiasRule,
    unseen: list[int],
    dataset: Dataset,
    references: TeacherReferences,
    log: Callable[[str], None],
) -> tuple[BiasShift, dict[str, Any]]:
    """Shift the never-seen classes' output bias (in the student and in `fit`'s predictions).

    Returns:
        The shift and the student's metrics before it.
    """
    if isinstance(bias_rule, float):
        value, val_before, val_after = choose_shift(fit.val, unseen, bias_rule)
        shift = BiasShift({c: value for c in unseen}, "auto", val_before, val_after, bias_rule)
    else:
        shift = BiasShift(bias_rule, "manual", top1_or_none(fit.val))
        shift.val_top1_after = top1_or_none(shift.apply_to_predictions(fit.val))
    before = student_metrics(fit, dataset.num_classes, references.ensemble_val, references.ensemble_test)
    apply_shift(task.student, shift)  # the saved student carries the shift
    fit.val, fit.test = shift.apply_to_predictions(fit.val), shift.apply_to_predictions(fit.test)
    log(
        f"bias adjust ({shift.rule}): "
        + ", ".join(f"{dataset.class_names[c]} +{v:.3f}" for c, v in shift.shifts.items())
        + f"; val top-1 {shift.val_top1_before or float('nan'):.2f} → {shift.val_top1_after or float('nan'):.2f} %"
    )
    return shift, before
