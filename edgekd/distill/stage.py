"""The distillation stage: `distill(DistillConfig, progress) -> DistillResult`.

Loads the teachers and the data, checks they agree on the classes, builds the method's
training task, runs the shared `Trainer` (checkpoint every epoch, `--resume`, Ctrl-C, NaN
stop, DDP under torchrun) and writes `DIR/student.safetensors` (a plain timm state dict) and
`DIR/student.json` (its model card: data, method, T, α, layers, teachers with sha256 and top-1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from edgekd.artifacts import provenance
from edgekd.data import BatchLoader, Dataset, ModelInput
from edgekd.distill.bias import BiasShift, apply_shift, choose_shift, classifier_bias, parse_bias_adjust
from edgekd.distill.cache import CacheKey, TeacherCache
from edgekd.distill.config import DistillConfig
from edgekd.distill.losses import ensemble_logits
from edgekd.distill.methods import METHODS
from edgekd.distill.mixing import BatchMixer
from edgekd.distill.qad import QadRun
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import Teacher, TeacherBank, check_class_names, check_teachers_agree, load_teacher
from edgekd.distill.transfer import TrainingSet, build_training_set
from edgekd.engine import (
    FitResult,
    Predictions,
    Progress,
    SilentProgress,
    Trainer,
    init_distributed,
    predict,
    resolve_precision,
)
from edgekd.engine.device import is_main_process
from edgekd.engine.metrics import accuracy_summary
from edgekd.engine.state import CHECKPOINT_NAME
from edgekd.errors import ConfigError
from edgekd.locks import folder_lock
from edgekd.models import ModelCard, create_model, input_spec_for, resolve_arch, save_model


@dataclass
class DistillResult:
    """What `distill` produced.

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


def _teacher_predictions(
    bank: TeacherBank, cache: TeacherCache | None, dataset: Dataset, split: str, device, precision, batch_size: int
) -> list[Predictions]:
    """Each teacher's unaugmented predictions on a split (from the cache when it has them)."""
    data = dataset.split(split)
    results = []
    for teacher, model in zip(bank.teachers, bank.models):
        table = cache.load(teacher.cache_id, split, len(data), dataset.num_classes) if cache is not None else None
        if table is not None and not torch.isnan(table).any():
            results.append(Predictions(table.float(), data.labels.clone()))
            continue
        loader = BatchLoader(data, batch_size, shuffle=False)
        predictions = predict(model, ModelInput(teacher.input), loader, device, precision)
        if cache is not None and cache.writable and len(data):
            cache.save(teacher.cache_id, split, predictions.logits)
        results.append(predictions)
    return results


def _ensemble(predictions: list[Predictions], rule: str) -> Predictions | None:
    if not predictions or len(predictions[0].labels) == 0:
        return None
    return Predictions(ensemble_logits([p.logits for p in predictions], rule), predictions[0].labels)


def _top1(predictions: Predictions | None) -> float | None:
    return None if predictions is None or len(predictions.labels) == 0 else predictions.top1()


def _student_metrics(
    fit: FitResult, num_classes: int, teacher_val: Predictions | None, teacher_test: Predictions | None
) -> dict[str, Any]:
    """Student val/test accuracy (percent) and its agreement with the teacher(s) on each split."""
    metrics: dict[str, Any] = {
        "val": accuracy_summary(fit.val, num_classes),
        "test": accuracy_summary(fit.test, num_classes),
    }
    for split, student, teacher in (("val", fit.val, teacher_val), ("test", fit.test, teacher_test)):
        if metrics[split] is not None and teacher is not None:
            metrics[split]["agreement"] = student.agreement(teacher)
    return metrics


def _per_class(
    dataset: Dataset, training_set: TrainingSet, metrics: dict[str, Any], before: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Per-class accuracy (percent) of the student, each class marked seen or never seen."""
    labels = training_set.split.labels
    counts = torch.bincount(labels[labels >= 0], minlength=dataset.num_classes).tolist()  # images per epoch
    rows = []
    for index, name in enumerate(dataset.class_names):
        row = {"class": name, "seen": training_set.seen[index], "train_labelled": counts[index]}
        for split in ("val", "test"):
            row[split] = (metrics.get(split) or {}).get("per_class", [None] * dataset.num_classes)[index]
            if before is not None:
                row[f"{split}_before_bias_adjust"] = (before.get(split) or {}).get(
                    "per_class", [None] * dataset.num_classes
                )[index]
        rows.append(row)
    return rows


def _ensemble_summary(
    teacher_facts: list[dict[str, Any]],
    member_test: list[Predictions] | None,
    ensemble_val: Predictions | None,
    ensemble_test: Predictions | None,
    rule: str,
    student: dict[str, Any],
) -> dict[str, Any]:
    """Each teacher's top-1, the ensemble's and the student's (percent), side by side; per member,
    the test images only the ensemble gets right vs only the member, with McNemar's p."""
    members = [
        {"arch": t["arch"], "path": t["path"], "val_top1": t["val_top1"], "top1": t["top1"]} for t in teacher_facts
    ]
    if ensemble_test is not None and member_test:
        for member, test in zip(members, member_test):
            paired = ensemble_test.versus(test)
            member["test_vs_ensemble"] = {
                "only_ensemble_right": paired["only_this_right"],
                "only_member_right": paired["only_other_right"],
                "mcnemar_p": paired["mcnemar_p"],
            }
    return {
        "rule": rule,
        "members": members,
        "val_top1": _top1(ensemble_val),
        "top1": _top1(ensemble_test),
        "student_val_top1": (student.get("val") or {}).get("top1"),
        "student_top1": (student.get("test") or {}).get("top1"),
    }


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


def distill(config: DistillConfig, progress: Progress | None = None) -> DistillResult:
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


def _distill(config: DistillConfig, progress: Progress | None) -> DistillResult:
    started = time.perf_counter()
    config.validate(tuple(METHODS))
    qad = None
    if config.quantize is not None:  # quantization-aware distillation: see edgekd.distill.qad
        qad, config = QadRun.prepare(config)
    method = METHODS[config.method]
    if method.uses_teacher and not config.teacher:
        raise ConfigError(
            f"--method {config.method} needs a teacher: --teacher DIR|FILE (e.g. from 'edgekd teacher train'); --method none trains the student alone."
        )
    if config.teacher_cache is not None and not config.teacher:
        raise ConfigError("--teacher-cache stores teachers' logits: give --teacher too.")
    if config.resume and not (Path(config.out_dir) / CHECKPOINT_NAME).exists():
        raise ConfigError(
            f"--resume: no checkpoint at {Path(config.out_dir) / CHECKPOINT_NAME}; start without --resume."
        )
    student_arch = resolve_arch(config.student)
    teachers = _load_teachers(config)
    check_teachers_agree(teachers)
    context, device = init_distributed(config.device)
    log = progress.log if (progress is not None and context.is_main) else SilentProgress().log
    # Stored at the largest input so that no model sees needlessly upsampled evaluation images.
    dataset = config.data.load(max([config.img_size, *(t.input.size for t in teachers)]))
    for teacher in teachers:
        check_class_names(teacher, dataset.class_names, dataset.spec)
        if teacher.class_names is None:
            log(
                f"teacher {teacher.path.name} has no card: its {teacher.num_classes} outputs are taken to be {dataset.spec}'s classes in order"
            )

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
            f"--method {config.method} learns from labels only, but the transfer set {config.transfer_data} is unlabeled: use --method kd (or fitnet)."
        )
    unseen = [i for i, seen in enumerate(training_set.seen) if not seen]
    bias_rule = parse_bias_adjust(config.bias_adjust, dataset.class_names, unseen) if config.bias_adjust else None
    if isinstance(bias_rule, float) and len(dataset.val) == 0:
        raise ConfigError(
            "--bias-adjust auto chooses the shift on the val split, but --val-size 0 left none: set --val-size (e.g. 0.1) or give NAME=VALUE."
        )
    if training_set.fingerprint is not None:
        for part in training_set.parts:
            log(
                f"learning from {part['name']} {part['spec']}: {part['used']} images ({part['kind']}"
                + (f", {part['dropped_images']} dropped" if part.get("dropped_images") else "")
                + f"), {part['per_epoch']} per epoch"
            )
    train_data = replace(dataset, train=training_set.split)

    spec = input_spec_for(student_arch, dataset, config.img_size, config.in_chans, config.pretrained)
    torch.manual_seed(config.train.seed)
    if qad is None:
        student = create_model(student_arch, dataset.num_classes, spec.in_chans, pretrained=config.pretrained)
    else:
        student = qad.student(spec, dataset.num_classes, config.data.data_dir, log)
    if bias_rule is not None:
        classifier_bias(student)  # fail before training if the head has no bias to shift
    bank = TeacherBank(teachers).to(device) if teachers else None
    cache = None
    if config.teacher_cache is not None:
        key = CacheKey(
            dataset.fingerprint,
            config.train.augment.describe(),
            config.img_size,
            config.train.seed,
            transfer_fingerprint=training_set.fingerprint if config.transfer_data else None,
            dropped_classes=training_set.dropped,
            mix=config.mix_recipe.describe() if config.mix_recipe.enabled else None,
        )
        cache = TeacherCache(config.teacher_cache, key, writable=context.is_main)
        for teacher in teachers:
            cache.register_teacher(teacher.cache_id, teacher.describe())
        others = cache.other_entries()
        log(
            f"teacher cache {cache.root}: "
            + (
                "reading the epochs it holds, recording the rest"
                if cache.existed
                else "new entry for these views, recording them"
            )
            + (f" ({len(others)} other view set(s) in {cache.base})" if others else "")
        )
        log(cache.disk_use(len(training_set.split), dataset.num_classes, len(teachers), config.train.epochs).line())
    targets = (
        TeacherTargets(bank, cache, len(training_set.split), dataset.num_classes)
        if bank is not None and method.uses_teacher
        else None
    )
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

    precision = resolve_precision(config.train.amp, device)
    teacher_val, teacher_test = [], []
    if bank is not None:
        teacher_val = _teacher_predictions(bank, cache, dataset, "val", device, precision, config.train.eval_batch_size)
        teacher_test = _teacher_predictions(
            bank, cache, dataset, "test", device, precision, config.train.eval_batch_size
        )
        for teacher, val in zip(teachers, teacher_val):
            val_top1 = _top1(val)  # None without a val split: say nothing rather than "nan"
            log(
                f"teacher {teacher.arch} ({teacher.path}, sha256 {teacher.sha256[:12]})"
                + (f": val top-1 {val_top1:.2f} %" if val_top1 is not None else "")
            )
    task.reference_val = _ensemble(teacher_val, config.ensemble)
    if qad is not None:
        qad.measure_ptq(student, ModelInput(spec), dataset, device, config.train.eval_batch_size)
        log(
            "QAD: the calibrated student before training (PTQ): "
            + ", ".join(f"{k.replace('_', ' ')} {v:.2f} %" for k, v in qad.ptq.items())
        )
    ensemble_test = _ensemble(teacher_test, config.ensemble)

    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = f"distill|{student_arch}|{dataset.fingerprint}|{config.train.describe()}|{spec}|{task.describe()}|{[t.cache_id for t in teachers]}|{config.pretrained}|{training_set.fingerprint}"
    trainer = Trainer(config.train, device, run_dir=out_dir, progress=progress, context=context, config_key=key)
    log(
        f"{config.method}: {student_arch} on {dataset.spec}: {len(training_set.split)} train / {len(dataset.val)} val / {len(dataset.test)} test, {device}, {trainer.precision.describe()}, {context.world_size} process(es)"
    )
    fit = trainer.fit(task, train_data, resume=config.resume)
    shift, before = None, None
    if bias_rule is not None:
        if isinstance(bias_rule, float):
            value, val_before, val_after = choose_shift(fit.val, unseen, bias_rule)
            shift = BiasShift({c: value for c in unseen}, "auto", val_before, val_after, bias_rule)
        else:
            shift = BiasShift(bias_rule, "manual", _top1(fit.val))
            shift.val_top1_after = _top1(shift.apply_to_predictions(fit.val))
        before = _student_metrics(fit, dataset.num_classes, task.reference_val, ensemble_test)
        apply_shift(task.student, shift)  # the saved student carries the shift
        fit.val, fit.test = shift.apply_to_predictions(fit.val), shift.apply_to_predictions(fit.test)
        log(
            f"bias adjust ({shift.rule}): "
            + ", ".join(f"{dataset.class_names[c]} +{v:.3f}" for c, v in shift.shifts.items())
            + f"; val top-1 {shift.val_top1_before or float('nan'):.2f} → {shift.val_top1_after or float('nan'):.2f} %"
        )

    teacher_facts = [
        {**teacher.describe(), "val_top1": _top1(val), "top1": _top1(test)}
        for teacher, val, test in zip(
            teachers, teacher_val or [None] * len(teachers), teacher_test or [None] * len(teachers)
        )
    ]
    metrics = _student_metrics(fit, dataset.num_classes, task.reference_val, ensemble_test)
    if teachers:
        metrics["teacher"] = {
            "val_top1": _top1(task.reference_val),
            "top1": _top1(ensemble_test),
            "count": len(teachers),
            "ensemble": config.ensemble if len(teachers) > 1 else None,
        }
    if len(teachers) > 1:
        metrics["ensemble"] = _ensemble_summary(
            teacher_facts, teacher_test, task.reference_val, ensemble_test, config.ensemble, metrics
        )
    metrics["per_class"] = _per_class(dataset, training_set, metrics, before)
    if shift is not None:
        metrics["bias_adjust"] = shift.describe(dataset.class_names)
        metrics["before_bias_adjust"] = {
            split: {k: v for k, v in (before.get(split) or {}).items() if k != "per_class"} for split in ("val", "test")
        }
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
        training["teacher_cache"] = {
            "dir": str(cache.root),
            "key": cache.key.to_dict(),
            "cached_steps": targets.cached_steps,
            "online_steps": targets.online_steps,
            "rebuilt": cache.rebuilt,
            "disk_use": cache.disk_use(
                len(training_set.split), dataset.num_classes, len(teachers), config.train.epochs
            ).to_dict(),
        }
        log(
            f"teacher cache {cache.root}: {targets.cached_steps} steps read cached logits, {targets.online_steps} ran a teacher"
        )
        if cache.rebuilt:
            log(
                f"teacher cache: {len(cache.rebuilt)} damaged table(s) were never read, computed again instead: {'; '.join(cache.rebuilt)}"
            )
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
