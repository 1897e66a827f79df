"""The benchmark's training runs: the teacher and the student recipes, each reused from the
work folder when a finished run there has the same settings (so an interrupted or repeated
bench only trains what is missing)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekd import distill as distill_stage
from edgekd import teacher as teacher_stage
from edgekd.artifacts import sha256_file
from edgekd.bench import protocol as P
from edgekd.bench.protocol import BenchConfig, StudentRun
from edgekd.bench.tracking import BenchTracking
from edgekd.data import DataConfig
from edgekd.distill import METHODS, DistillConfig
from edgekd.distill.config import DEFAULT_TRAIN
from edgekd.distill.methods.base import all_options
from edgekd.engine import OptimConfig, Progress, TrainConfig
from edgekd.errors import ConfigError, EdgekdError
from edgekd.teacher import TeacherConfig

# Settings that do not change what a run computes: where it wrote, how the teacher was named;
# the method's options are compared as the method resolves them (`_method_settings`).
_IGNORED = {"out_dir", "teacher", "teacher_cache", "resume", "method_options"}


def _train(epochs: int, lr: float, seed: int, warmup_epochs: float = 0.0) -> TrainConfig:
    optim = OptimConfig(lr=lr, warmup_epochs=warmup_epochs)
    return TrainConfig(epochs=epochs, batch_size=P.BATCH_SIZE, optim=optim, seed=seed)


def _read_card(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def teacher_run(config: BenchConfig, progress: Progress, tracking: BenchTracking) -> dict[str, Any]:
    """The teacher: `config.teacher` as given, else trained (or reused) in OUT/teacher."""
    if config.teacher is not None:
        folder = Path(config.teacher)
        card = _read_card(folder / "teacher.json")
        if card is None or not (folder / "teacher.safetensors").is_file():
            raise ConfigError(
                f"--teacher {folder}: no teacher.safetensors + teacher.json there; pass a folder written by "
                "'edgekd teacher train'."
            )
        progress.log(f"teacher: using {folder} ({card['arch']}, test top-1 {card['metrics']['test']['top1']:.2f} %)")
        tracking.reused("teacher", card.get("provenance", {}).get("config") or {}, card, folder, status="given")
    else:
        folder = config.out / "teacher"
        teacher_config = TeacherConfig(
            P.TEACHER_ARCH,
            folder,
            DataConfig(P.DATA, val_size=0, limit_train=config.effective_limit_train),
            _train(config.effective_teacher_epochs, P.LR, 0),
            img_size=P.IMG_SIZE,
            device="cpu",
        )
        card = _read_card(folder / "teacher.json")
        if card is None or card.get("provenance", {}).get("config") != json.loads(
            json.dumps(teacher_config.describe())
        ):
            progress.log(f"teacher: training {P.TEACHER_ARCH} for {teacher_config.train.epochs} epochs")
            _tracked(
                tracking,
                "teacher",
                teacher_config.describe(),
                progress,
                lambda sink: teacher_stage.run(teacher_config, sink),
            )
            tracking.trained("teacher", folder / "teacher.safetensors")
            card = _read_card(folder / "teacher.json")
        else:
            progress.log(f"teacher: reusing {folder}")
            tracking.reused("teacher", teacher_config.describe(), card, folder)
    weights = folder / "teacher.safetensors"
    return {
        "path": str(folder),
        "weights": str(weights),
        "sha256": sha256_file(weights),
        "arch": card["arch"],
        "test_top1": card["metrics"]["test"]["top1"],
        "train_img_per_s": card.get("training", {}).get("train_img_per_s"),
    }


def student_config(
    config: BenchConfig, run: StudentRun, seed: int, teacher: dict, folder: Path, *, val_size: float
) -> DistillConfig:
    """The `edgekd distill` settings of one benchmark run."""
    return replace(
        DistillConfig(P.STUDENT_ARCH, folder),
        teacher=(teacher["path"],),
        method=run.method,
        method_options=dict(run.options),
        data=DataConfig(P.DATA, val_size=val_size, limit_train=config.effective_limit_train, split_seed=0),
        train=_train(config.effective_student_epochs, run.effective_lr, seed, DEFAULT_TRAIN.optim.warmup_epochs),
        teacher_cache=config.out / "teacher-cache",
        img_size=P.IMG_SIZE,
        mix=run.mix,
    )


def _method_settings(method: str, recorded: dict) -> dict | None:
    """A recorded config's method options as `method` resolves them (defaults filled in); a
    card from before `method_options` existed kept them as top-level keys. None: unreadable."""
    declared = {o.name for o in METHODS[method].options} if method in METHODS else set()
    given = recorded.get("method_options")
    if given is None:
        given = {k: v for k, v in recorded.items() if k in declared}
    try:
        return METHODS[method].resolve_options(given)
    except (KeyError, EdgekdError):
        return None


def _same_run(card: dict | None, wanted: DistillConfig, teacher_sha: str) -> bool:
    if card is None:
        return False
    done = card.get("provenance", {}).get("config") or {}
    want = json.loads(json.dumps(wanted.describe()))
    defaults = json.loads(json.dumps(DistillConfig(wanted.student, wanted.out_dir).describe()))
    # A setting added to edgekd after the run was made counts as its default (what the run did).
    done = {**{k: v for k, v in defaults.items() if k not in done}, **done}
    # Older cards kept the method's options as top-level keys: leave every option name out here.
    ignored = _IGNORED | set(all_options())
    same_settings = {k: v for k, v in done.items() if k not in ignored} == {
        k: v for k, v in want.items() if k not in ignored
    }
    same_settings = same_settings and _method_settings(wanted.method, done) == _method_settings(wanted.method, want)
    teachers = card.get("training", {}).get("teachers") or [{}]
    return same_settings and teachers[0].get("sha256") == teacher_sha


def student_run(
    config: BenchConfig,
    run: StudentRun,
    seed: int,
    teacher: dict,
    folder: Path,
    progress: Progress,
    tracking: BenchTracking,
    *,
    val_size: float = 0,
    alone_top1: float | None = None,
) -> dict[str, Any]:
    """Train one student (or reuse it) and return its figures; with `alone_top1` (the student
    alone's test top-1 at this seed) its tracked run also gets `gain_vs_alone`."""
    wanted = student_config(config, run, seed, teacher, folder, val_size=val_size)
    label = f"{folder.parent.name}/{folder.name}"  # runs/kd-s0, sweep/kd-T4-a0.9
    card = _read_card(folder / "student.json")
    reused = _same_run(card, wanted, teacher["sha256"])
    if reused:
        progress.log(f"{folder.name}: reusing the finished run")
    else:
        progress.log(f"{folder.name}: {run.method} {run.settings()} seed {seed}")
        _tracked(tracking, label, wanted.describe(), progress, lambda sink: distill_stage.run(wanted, sink))
        card = _read_card(folder / "student.json")
    metrics, training = card["metrics"], card["training"]
    extra = {"gain_vs_alone": metrics["test"]["top1"] - alone_top1} if alone_top1 is not None else None
    if reused:
        tracking.reused(label, wanted.describe(), card, folder, extra)
    else:
        tracking.trained(label, folder / "student.safetensors", extra)
    return {
        "run": run.name,
        "seed": seed,
        "path": str(folder),
        "settings": run.settings(),
        "val_top1": (metrics.get("val") or {}).get("top1"),
        "test_top1": metrics["test"]["top1"],
        "train_img_per_s": training.get("train_img_per_s"),
        "wall_time_s": training.get("wall_time_s"),
    }


def _tracked(tracking: BenchTracking, label: str, recipe: dict, progress: Progress, train) -> None:
    """Run `train(progress sink)` inside `label`'s tracked run; a failure ends that run FAILED."""
    sink = tracking.start(label, recipe, progress)
    try:
        train(sink)
    except BaseException as exc:
        tracking.failed(label, exc)
        raise
