"""How a distillation run uses the teacher-logit cache (`cache.py`): the entry of exactly its
training views, opened and described in the log, its disk use, and what the card records of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgekd.data import Dataset
from edgekd.distill.cache import CacheKey, DiskUse, TeacherCache
from edgekd.distill.config import DistillConfig
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import Teacher
from edgekd.distill.transfer import TrainingSet


def open_cache_entry(
    root: Path,
    config: DistillConfig,
    dataset: Dataset,
    training_set: TrainingSet,
    teachers: list[Teacher],
    writable: bool,
    log: Callable[[str], None],
) -> TeacherCache:
    """The entry of the teacher-logit cache in `root` (`--teacher-cache`) for exactly these
    training views (see `cache.py`)."""
    key = CacheKey(
        dataset.fingerprint,
        config.train.augment.describe(),
        config.img_size,
        config.train.seed,
        transfer_fingerprint=training_set.fingerprint if config.transfer_data else None,
        dropped_classes=training_set.dropped,
        mix=config.mix_recipe.describe() if config.mix_recipe.enabled else None,
    )
    cache = TeacherCache(root, key, writable=writable)
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
    log(disk_use(config, dataset, training_set, cache, len(teachers)).line())
    return cache


def disk_use(
    config: DistillConfig, dataset: Dataset, training_set: TrainingSet, cache: TeacherCache, teachers: int
) -> DiskUse:
    """What the cache holds on disk for this run: per epoch and for all its epochs."""
    return cache.disk_use(len(training_set.split), dataset.num_classes, teachers, config.train.epochs)


def cache_use_facts(
    cache: TeacherCache, targets: TeacherTargets, disk: DiskUse, log: Callable[[str], None]
) -> dict[str, Any]:
    """The card's `training.teacher_cache`: where it was, its key, how many steps it served and
    its disk use (`disk_use`)."""
    log(
        f"teacher cache {cache.root}: {targets.cached_steps} steps read cached logits, "
        f"{targets.online_steps} ran a teacher"
    )
    if cache.rebuilt:
        log(
            f"teacher cache: {len(cache.rebuilt)} damaged table(s) were never read, computed again instead: "
            f"{'; '.join(cache.rebuilt)}"
        )
    return {
        "dir": str(cache.root),
        "key": cache.key.to_dict(),
        "cached_steps": targets.cached_steps,
        "online_steps": targets.online_steps,
        "rebuilt": cache.rebuilt,
        "disk_use": disk.to_dict(),
    }
