"""What a distilled student's card records: its metrics (beside its teachers') and how it was trained.

The stage gathers the figures (`TeacherReferences`, the `FitResult`, a bias shift); the functions
here only arrange them into the card's `metrics` and `training` blocks, so the card's layout is
read in one place.
"""

from __future__ import annotations

from typing import Any

import torch

from edgekd.data import Dataset
from edgekd.distill.bias import BiasShift
from edgekd.distill.references import TeacherReferences, top1_or_none
from edgekd.distill.transfer import TrainingSet
from edgekd.engine import FitResult, Predictions
from edgekd.engine.metrics import accuracy_summary


def student_metrics(
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
    teacher_facts: list[dict[str, Any]], references: TeacherReferences, rule: str, student: dict[str, Any]
) -> dict[str, Any]:
    """Each teacher's top-1, the ensemble's and the student's (percent), side by side; per member,
    the test images only the ensemble gets right vs only the member, with McNemar's p."""
    members = [
        {"arch": t["arch"], "path": t["path"], "val_top1": t["val_top1"], "top1": t["top1"]} for t in teacher_facts
    ]
    ensemble_test = references.ensemble_test
    if ensemble_test is not None and references.test:
        for member, test in zip(members, references.test):
            paired = ensemble_test.versus(test)
            member["test_vs_ensemble"] = {
                "only_ensemble_right": paired["only_this_right"],
                "only_member_right": paired["only_other_right"],
                "mcnemar_p": paired["mcnemar_p"],
            }
    return {
        "rule": rule,
        "members": members,
        "val_top1": top1_or_none(references.ensemble_val),
        "top1": top1_or_none(ensemble_test),
        "student_val_top1": (student.get("val") or {}).get("top1"),
        "student_top1": (student.get("test") or {}).get("top1"),
    }


def card_metrics(
    fit: FitResult,
    dataset: Dataset,
    training_set: TrainingSet,
    references: TeacherReferences,
    ensemble_rule: str,
    shift: BiasShift | None,
    before: dict[str, Any] | None,
) -> dict[str, Any]:
    """The card's `metrics`: the student's, its teachers' (and ensemble's), per class, and any bias shift.

    Args:
        before: the student's metrics before the bias shift (None: no shift).
    """
    teachers = references.teachers
    metrics = student_metrics(fit, dataset.num_classes, references.ensemble_val, references.ensemble_test)
    if teachers:
        metrics["teacher"] = {
            "val_top1": top1_or_none(references.ensemble_val),
            "top1": top1_or_none(references.ensemble_test),
            "count": len(teachers),
            "ensemble": ensemble_rule if len(teachers) > 1 else None,
        }
    if len(teachers) > 1:
        metrics["ensemble"] = _ensemble_summary(references.facts(), references, ensemble_rule, metrics)
    metrics["per_class"] = _per_class(dataset, training_set, metrics, before)
    if shift is not None and before is not None:
        metrics["bias_adjust"] = shift.describe(dataset.class_names)
        metrics["before_bias_adjust"] = {
            split: {k: v for k, v in (before.get(split) or {}).items() if k != "per_class"} for split in ("val", "test")
        }
    return metrics
