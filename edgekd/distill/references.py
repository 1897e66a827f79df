"""The teachers' side of a distillation run: their unaugmented val/test predictions and ensemble.

Read from the teacher cache when it holds them; they give the student's agreement figures, the
card's teacher and ensemble blocks, and the val reference the trainer reports against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from edgekd.data import BatchLoader, Dataset, ModelInput
from edgekd.distill.cache import TeacherCache
from edgekd.distill.config import DistillConfig
from edgekd.distill.losses import ensemble_logits
from edgekd.distill.teachers import Teacher, TeacherBank
from edgekd.engine import Predictions, predict


def top1_or_none(predictions: Predictions | None) -> float | None:
    """Top-1 (percent), or None for no predictions or an empty split (say nothing rather than "nan")."""
    return None if predictions is None or len(predictions.labels) == 0 else predictions.top1()


@dataclass
class TeacherReferences:
    """The teachers' unaugmented predictions on val and test: each member's and the ensemble's.

    Attributes:
        teachers: the loaded teachers, in `--teacher` order.
        val, test: one `Predictions` per teacher (empty without teachers).
        ensemble_val, ensemble_test: their combination by the `--ensemble` rule (None: no
            teacher, or an empty split).
    """

    teachers: list[Teacher]
    val: list[Predictions]
    test: list[Predictions]
    ensemble_val: Predictions | None
    ensemble_test: Predictions | None

    def facts(self) -> list[dict[str, Any]]:
        """Per teacher: what it is (path, sha256, arch, …) and its val/test top-1 (percent) on this data."""
        count = len(self.teachers)
        return [
            {**teacher.describe(), "val_top1": top1_or_none(val), "top1": top1_or_none(test)}
            for teacher, val, test in zip(self.teachers, self.val or [None] * count, self.test or [None] * count)
        ]


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


def teacher_references(
    config: DistillConfig,
    bank: TeacherBank | None,
    cache: TeacherCache | None,
    dataset: Dataset,
    teachers: list[Teacher],
    device,
    precision,
    log: Callable[[str], None],
) -> TeacherReferences:
    """The teachers' val/test predictions (from the cache when it holds them) and their ensemble."""
    teacher_val: list[Predictions] = []
    teacher_test: list[Predictions] = []
    if bank is not None:
        batch_size = config.train.eval_batch_size
        teacher_val = _teacher_predictions(bank, cache, dataset, "val", device, precision, batch_size)
        if config.evaluate_test:  # else the test split is never read (DistillConfig.evaluate_test)
            teacher_test = _teacher_predictions(bank, cache, dataset, "test", device, precision, batch_size)
        for teacher, val in zip(teachers, teacher_val):
            val_top1 = top1_or_none(val)  # None without a val split: say nothing rather than "nan"
            log(
                f"teacher {teacher.arch} ({teacher.path}, sha256 {teacher.sha256[:12]})"
                + (f": val top-1 {val_top1:.2f} %" if val_top1 is not None else "")
            )
    return TeacherReferences(
        teachers,
        teacher_val,
        teacher_test,
        _ensemble(teacher_val, config.ensemble),
        _ensemble(teacher_test, config.ensemble),
    )
