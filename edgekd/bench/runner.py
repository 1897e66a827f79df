"""`edgekd bench`: the FMNIST-32 benchmark in one run — accuracy of teacher and students,
training speed, deployment speed — written as OUT/bench.json and OUT/bench.md."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch

from edgekd.artifacts import atomic_path, write_json
from edgekd.bench import protocol as P
from edgekd.bench.deploy import checks as deploy_checks
from edgekd.bench.deploy import deploy_model
from edgekd.bench.markdown import render
from edgekd.bench.protocol import BenchConfig
from edgekd.bench.runs import student_run, teacher_run
from edgekd.bench.tracking import BenchTracking
from edgekd.data import DataConfig, to_unit_float
from edgekd.engine import Progress, SilentProgress
from edgekd.engine.tracking import TrackTarget
from edgekd.errors import ConfigError, TrainingError
from edgekd.profile.system import system_facts
from edgekd.seed_stats import compare_to_alone

REPO_CALIBRATION = Path(__file__).resolve().parents[2] / "calibration" / "fmnist-val-512.yaml"


def _accuracy(config: BenchConfig, teacher: dict, progress: Progress, tracking: BenchTracking) -> dict[str, Any]:
    """Every headline recipe on the full train set, once per seed, and its statistics."""
    runs: dict[str, list[dict]] = {}
    for (
        run
    ) in config.effective_runs:  # the student alone comes first: each other run's tracked gain is against its seed
        alone_runs = runs.get("alone") if run.name != "alone" else None
        runs[run.name] = [
            student_run(
                config,
                run,
                seed,
                teacher,
                config.out / "runs" / f"{run.name}-s{seed}",
                progress,
                tracking,
                alone_top1=alone_runs[seed]["test_top1"] if alone_runs else None,
            )
            for seed in range(config.seeds)
        ]
    alone = [r["test_top1"] for r in runs["alone"]]
    students = {}
    for run in config.effective_runs:
        top1 = [r["test_top1"] for r in runs[run.name]]
        students[run.name] = {
            "label": run.label or run.name,
            "method": run.method,
            "claim": run.claim,
            "settings": run.settings(),
            "runs": runs[run.name],
            "stats": compare_to_alone(top1, alone, teacher["test_top1"]),
        }
    return students


def _sweep(config: BenchConfig, teacher: dict, progress: Progress, tracking: BenchTracking) -> list[dict]:
    progress.log(f"val sweep: {len(P.SWEEP)} runs, {P.SWEEP_VAL_SIZE} train images held out as val, seed 0")
    rows = []
    for run in P.SWEEP:
        seeds = (0, 1) if run.name in P.SWEEP_SECOND_SEED else (0,)
        row: dict[str, Any] = {"run": run.name, "settings": run.settings(), "val_by_seed": {}, "val_top1": None}
        try:
            for seed in seeds:
                folder = config.out / "sweep" / (run.name if seed == 0 else f"{run.name}-s{seed}")
                row["val_by_seed"][seed] = student_run(
                    config, run, seed, teacher, folder, progress, tracking, val_size=P.SWEEP_VAL_SIZE
                )["val_top1"]
            row["val_top1"] = sum(row["val_by_seed"].values()) / len(seeds)
        except TrainingError as exc:  # a diverging recipe is a finding of the sweep, not a failure of the bench
            progress.log(f"{run.name}: {exc}")
            row["diverged"] = str(exc)
        rows.append(row)
    return rows


def _speed(config: BenchConfig, teacher: dict, progress: Progress) -> dict[str, Any]:
    from edgekd.distill.speed import SpeedConfig, measure_speed

    speed = SpeedConfig(
        teacher=teacher["path"],
        teacher_arch=P.TEACHER_ARCH,
        student_arch=P.STUDENT_ARCH,
        img_size=P.IMG_SIZE,
        batch_size=P.BATCH_SIZE,
        threads=config.threads,
        device="cpu",
    )
    if config.quick:
        speed = SpeedConfig(
            **{**asdict(speed), "rounds": 2, "steps": 3, "warmup": 1, "batches": 4, "epoch_samples": 1024}
        )
    progress.log("training speed: step rates and whole epochs per mode")
    return measure_speed(speed, progress)


def _deploy(config: BenchConfig, teacher: dict, students: dict, progress: Progress) -> dict[str, Any]:
    calib = REPO_CALIBRATION
    if config.quick or not calib.is_file():  # an installed package has no calibration/ folder: write the same spec
        calib = config.out / "calibration.yaml"
        calib.write_text(f"dataset: {P.DATA}\nsplit: val\nsamples: {128 if config.quick else 512}\nseed: 0\n")
    pixels = to_unit_float(DataConfig(P.DATA).load(P.IMG_SIZE).test.images[:64], (P.IMG_SIZE, P.IMG_SIZE))
    min_time = 0.3 if config.quick else 3.0
    kd = students.get("kd") or next(iter(students.values()))
    models = {
        f"{P.STUDENT_ARCH} ({kd['runs'][0]['run']} seed 0)": (
            "default student",
            Path(kd["runs"][0]["path"]) / "student.safetensors",
        ),
        f"{P.TEACHER_ARCH} (the teacher)": ("resnet18", Path(teacher["weights"])),
    }
    figures = {
        key: deploy_model(
            role,
            weights,
            config.out / "export" / role.replace(" ", "-"),
            calib,
            pixels,
            config.threads,
            min_time,
            progress,
            quick=config.quick,
        )
        for key, (role, weights) in models.items()
    }
    return {"models": figures, "threads": config.threads, "batches": [1, 32]}


def _targets(result: dict[str, Any]) -> list[dict]:
    found = []
    for name, summary in result["students"].items():
        if summary["method"] == "none":
            continue
        stats = summary["stats"]
        status = (
            ("PASS" if stats["beats_alone"] else "MISS")
            if stats["rule_applies"] and summary.get("claim", True)
            else "INFO"
        )
        found.append(
            {
                "status": status,
                "line": (
                    f"{summary['label']}: {stats['mean']:.2f} % vs alone, gain {stats['gain_mean']:+.2f} ± "
                    f"{stats['gain_std']:.2f} pt over {stats['seeds']} seed(s) (beats alone: mean gain > paired std "
                    "over ≥ 3 seeds)"
                ),
            }
        )
    found += _gap_targets(result)
    if result.get("speed"):
        for name, target in result["speed"]["targets"].items():
            label = (
                "KD from cache / student alone"
                if name == "cached_kd_vs_student"
                else "online KD / (1/(1/student + 1/teacher))"
            )
            found.append(
                {
                    "status": "PASS" if target["met"] else "MISS",
                    "line": f"{label} (step rates): {target['measured']:.3f} (target ≥ {target['target']})",
                }
            )
    if result.get("deploy"):
        found += deploy_checks(result["deploy"]["models"])
    return found


def _gap_targets(result: dict[str, Any]) -> list[dict]:
    """The protocol's target for the best claimed recipe: its share of the teacher–student gap,
    and whether it beats KD by more than the paired std (the "beats" rule, KD in place of alone)."""
    schedule = P.PROTOCOLS[result.get("config", {}).get("protocol", "short")]
    claimed = {
        name: s
        for name, s in result["students"].items()
        if s["method"] != "none" and s.get("claim", True) and s["stats"]["gap_closed"] is not None
    }
    if not claimed:
        return []
    name, best = max(claimed.items(), key=lambda item: item[1]["stats"]["mean"])
    gap = best["stats"]["gap_closed"]
    enough_seeds = best["stats"]["seeds"] >= schedule.min_seeds
    found = [
        {
            "status": ("PASS" if gap >= schedule.min_gap_closed else "MISS") if enough_seeds else "INFO",
            "line": f"best recipe ({best['label']}) closes {gap:.0%} of the teacher–student gap "
            f"(target ≥ {schedule.min_gap_closed:.0%}, {schedule.name} protocol, {best['stats']['seeds']} seed(s))",
        }
    ]
    kd = result["students"].get("kd")
    if kd is not None and name != "kd":
        versus = compare_to_alone(
            [r["test_top1"] for r in best["runs"]], [r["test_top1"] for r in kd["runs"]], teacher_top1=None
        )
        status = ("PASS" if versus["beats_alone"] else "MISS") if versus["rule_applies"] else "INFO"
        found.append(
            {
                "status": status,
                "line": f"best recipe vs KD: gain {versus['gain_mean']:+.2f} ± {versus['gain_std']:.2f} pt over "
                f"{versus['seeds']} seed(s) (beats KD: mean gain > paired std over ≥ 3 seeds)",
            }
        )
    return found


def _machine(threads: int) -> dict[str, Any]:
    facts = system_facts()
    import timm

    return {
        "cpu": facts["cpu_model"],
        "logical_cores": facts["cpu_logical_cores"],
        "threads": threads,
        "python": facts["python"],
        "torch": facts["torch"],
        "timm": timm.__version__,
        "onnxruntime": facts["onnxruntime"],
        "edgekd": facts["edgekd"],
        "fingerprint": facts["fingerprint"],
    }


def run_bench(
    config: BenchConfig,
    progress: Progress | None = None,
    command: str = "edgekd bench",
    track: Sequence[TrackTarget] = (),
) -> dict[str, Any]:
    """Run the benchmark and write OUT/bench.json + OUT/bench.md. Returns the figures.

    With `track`: one parent run for the bench, one child per training run (see `tracking.py`)."""
    progress = progress or SilentProgress()
    if config.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {config.seeds}.")
    if config.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {config.threads}.")
    if config.protocol not in P.PROTOCOLS:
        raise ConfigError(f"unknown --protocol '{config.protocol}': use {' or '.join(P.PROTOCOLS)}.")
    known = [run.name for run in config.schedule.runs]
    unknown = [name for name in config.recipes if name not in known]
    if unknown:
        raise ConfigError(
            f"unknown --recipes '{unknown[0]}' for the {config.protocol} protocol: use {', '.join(known)}."
        )
    started = time.perf_counter()
    torch.set_num_threads(config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "schema": "edgekd.bench/1",
        "command": command,
        "config": {
            **asdict(config),
            "out": str(config.out),
            "teacher": str(config.teacher) if config.teacher else None,
            "runs": [asdict(r) for r in config.effective_runs],
        },
    }
    tracking = BenchTracking(track, result["config"], command)
    try:
        _measure(config, result, progress, tracking)
    except BaseException as exc:
        tracking.end(status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    result["wall_time_s"] = time.perf_counter() - started
    tracking.end(result)
    write_json(config.out / "bench.json", result)
    with atomic_path(config.out / "bench.md") as tmp:
        tmp.write_text(render(result))
    return result


def _measure(config: BenchConfig, result: dict[str, Any], progress: Progress, tracking: BenchTracking) -> None:
    result["teacher"] = teacher_run(config, progress, tracking)
    result["sweep"] = _sweep(config, result["teacher"], progress, tracking) if config.sweep else []
    result["students"] = _accuracy(config, result["teacher"], progress, tracking)
    result["speed"] = _speed(config, result["teacher"], progress) if config.speed else None
    result["deploy"] = _deploy(config, result["teacher"], result["students"], progress) if config.deploy else None
    result["targets"] = _targets(result)
    result["machine"] = _machine(config.threads)
