"""The search's distillation runs: one `edgekd distill` run per (candidate, epochs), all from
one teacher-logit cache, each reused when a finished run with the same settings is there and
resumed from its checkpoint when it was interrupted."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekd import distill as distill_stage
from edgekd.artifacts import read_json
from edgekd.distill import DistillConfig
from edgekd.distill.config import DEFAULT_TRAIN
from edgekd.engine import Progress
from edgekd.errors import ConfigError
from edgekd.students.config import StudentsConfig

CHECKPOINT = "checkpoint.pt"


def run_dir(config: StudentsConfig, arch: str, epochs: int) -> Path:
    return Path(config.out_dir) / "runs" / f"{arch}-e{epochs}"


def cache_dir(config: StudentsConfig) -> Path:
    return Path(config.out_dir) / "teacher-cache"


def distill_config(config: StudentsConfig, arch: str, epochs: int, img_size: int) -> DistillConfig:
    """The shipped `edgekd distill` recipe (KD, its T, α, lr and warm-up) for `epochs`, from the shared cache.

    A short rung (fewer epochs than the full schedule) is scored on val only: the test split is
    for the runs that ship (the finalist, the baseline), and reading it in every rung only costs."""
    return DistillConfig(
        student=arch,
        out_dir=run_dir(config, arch, epochs),
        teacher=(str(config.teacher),),
        data=config.data,
        train=replace(DEFAULT_TRAIN, epochs=epochs, seed=config.seed),
        teacher_cache=cache_dir(config),
        img_size=img_size,
        device=config.device,
        evaluate_test=epochs == config.epochs,
    )


def _normalised(config: DistillConfig) -> dict[str, Any]:
    return {k: v for k, v in json.loads(json.dumps(config.describe())).items() if k != "resume"}


def distil(config: StudentsConfig, arch: str, epochs: int, img_size: int, progress: Progress) -> dict[str, Any]:
    """Train (or reuse, or resume) one run; returns its figures for students.json.

    Raises:
        ConfigError: the run folder holds a finished run with other settings.
    """
    wanted = distill_config(config, arch, epochs, img_size)
    folder = Path(wanted.out_dir)
    card_path = folder / "student.json"
    reused = card_path.exists()
    if reused:
        done = {
            k: v for k, v in (read_json(card_path).get("provenance", {}).get("config") or {}).items() if k != "resume"
        }
        if done != _normalised(wanted):
            raise ConfigError(
                f"{folder} holds a run with other settings than this search's; use another --out or delete that folder."
            )
        progress.log(f"{arch} × {epochs} epochs: reusing the finished run in {folder}")
    else:
        resume = (folder / CHECKPOINT).exists()
        progress.log(f"{arch} × {epochs} epochs: distilling" + (" (resuming its checkpoint)" if resume else ""))
        distill_stage.run(replace(wanted, resume=resume), progress)
    card = read_json(card_path)
    metrics, training = card["metrics"], card["training"]
    cache = training.get("teacher_cache") or {}
    return {
        "epochs": epochs,
        "run": str(folder),
        "reused": reused,
        "val_top1": (metrics.get("val") or {}).get("top1"),
        "test_top1": (metrics.get("test") or {}).get("top1"),
        "wall_time_s": training.get("wall_time_s"),
        "train_img_per_s": training.get("train_img_per_s"),
        "teacher_online_batches": cache.get("online_steps"),
        "teacher_cached_batches": cache.get("cached_steps"),
        "teacher_cache_entry": cache.get("dir"),
    }


def teacher_passes(config: StudentsConfig, runs: list[dict[str, Any]], eval_splits: int) -> dict[str, Any]:
    """How often the teacher ran: the views it computed (cache tables: one per training epoch and
    eval split) and the training batches it ran, summed over every distinct run of the search.

    Args:
        eval_splits: the non-empty unaugmented splits the teacher predicts (val, test).

    Each training view is one epoch's augmented training set; the teacher ran once per view when
    `views_computed == distinct_views` and `training_batches == max epochs × batches per epoch`.
    """
    # Only the entries these runs read: another seed's views in the same folder are not this search's.
    entries = sorted({Path(r["teacher_cache_entry"]) for r in runs if r.get("teacher_cache_entry")})
    tables = sorted(p for entry in entries for p in entry.glob("*/*.safetensors"))
    epoch_tables = [p for p in tables if p.stem.startswith("epoch-")]
    distinct = {r["run"]: r for r in runs}.values()
    online = sum(r["teacher_online_batches"] or 0 for r in distinct)
    per_epoch = next(
        (
            (r["teacher_online_batches"] + r["teacher_cached_batches"]) // r["epochs"]
            for r in distinct
            if r["teacher_online_batches"] is not None
        ),
        None,
    )
    epochs = max((r["epochs"] for r in distinct), default=0)
    return {
        "views_computed": len(tables),
        "training_views_computed": len(epoch_tables),
        "eval_views_computed": len(tables) - len(epoch_tables),
        "distinct_views": epochs + eval_splits,
        "runs": len(distinct),
        "training_batches": online,
        "batches_per_epoch": per_epoch,
        "cache": str(cache_dir(config)),
    }
