"""`edgekd students`: the most accurate student within a latency budget on the target.

`run(config, progress) -> StudentsResult`: cost and export every candidate, time it on the
target (or read the target's profile.json files), drop those over budget, distil the rest by
successive halving from one shared teacher-logit cache, give the finalist the full schedule,
and write OUT/students.json, OUT/students.md and OUT/students.svg. Everything it trains or
measures is a file reused on the next run, so an interrupted search continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from edgekd.artifacts import atomic_write_text, provenance, write_json
from edgekd.data import Dataset
from edgekd.engine import Progress, SilentProgress
from edgekd.errors import ConfigError
from edgekd.models import read_card, resolve_model_path
from edgekd.profile.system import system_facts
from edgekd.report.search_plot import plot_unavailable
from edgekd.students import halving, int8, latency
from edgekd.students.candidates import Candidate, export_candidate, prepare, resolve_candidates
from edgekd.students.config import StudentsConfig
from edgekd.students.markdown import render, students_svg
from edgekd.students.runs import distil, teacher_passes
from edgekd.students.schema import STUDENTS_SCHEMA, StudentsFile


class NoCandidateWithinBudget(ConfigError):
    """Every timed candidate is over the budget (exit 2); students.json lists what was measured."""


@dataclass
class StudentsResult:
    """What the search found.

    Attributes:
        chosen: the architecture to ship: the finalist, or an in-budget `--baseline` whose full run
            beat it on val.
        run_dir: its full-schedule distill run (student.safetensors + student.json).
        candidates: every candidate with its figures and the search's decision.
        summary_path: OUT/students.json.
        payload: what students.json holds.
    """

    chosen: str
    run_dir: Path
    candidates: list[Candidate]
    summary_path: Path
    payload: dict[str, Any]


def search_img_size(config: StudentsConfig) -> int:
    """The input size (px) of every candidate: `--img-size`, else the teacher's."""
    if config.img_size is not None:
        return config.img_size
    card = read_card(resolve_model_path(config.teacher, ("teacher", "student")))
    if card is None:
        raise ConfigError(f"{config.teacher} has no model card to take the input size from; pass --img-size.")
    return card.input.size


def int8_calibration(config: StudentsConfig, dataset: Dataset) -> Path | None:
    """A calibration spec (128 val images of the search's data) for the CPU INT8 recipe."""
    if not config.int8:
        return None
    path = Path(config.out_dir) / "calibration.yaml"
    atomic_write_text(path, f"dataset: {dataset.spec}\nsplit: val\nsamples: 128\nseed: 0\n")
    return path


def _time_candidates(config: StudentsConfig, candidates: list[Candidate], progress: Progress) -> None:
    """Fill each exported candidate's latency per precision at the budget's batch."""
    profiles = latency.read_profiles(config.latency_from, config.batch) if config.latency_from is not None else None
    exported = [c for c in candidates if not c.dropped]
    progress.start(f"timing on {config.target}, batch {config.batch}", len(exported))
    for candidate in exported:
        if profiles is not None:  # every precision the target timed (FP16 or INT8 engines, say)
            candidate.latency = {
                precision: stats for (arch, precision), stats in profiles.items() if arch == candidate.arch
            }
        for precision, onnx in candidate.onnx.items() if profiles is None else ():
            candidate.latency[precision] = latency.measure_on_target(config, onnx, precision)
        latency.choose_precision(candidate, config.statistic)
        if candidate.latency_ms is None:
            candidate.dropped = f"no profile.json at batch {config.batch} for it under {config.latency_from}"
        else:
            cost = (
                f", {candidate.params / 1e6:.2f} M params, {candidate.mflops or float('nan'):.2f} MFLOPs"
                if candidate.params
                else ""
            )
            progress.log(
                f"{candidate.arch}: {candidate.latency_ms:.3f} ms {config.percentile} at batch {config.batch} "
                f"({candidate.precision}){cost}"
            )
        progress.advance(1, candidate=candidate.arch)
    progress.finish({"timed": sum(c.latency_ms is not None for c in exported), "of": len(candidates)})


def _teacher_budget(
    config: StudentsConfig, calib: Path | None, progress: Progress
) -> tuple[StudentsConfig, dict[str, Any] | None]:
    """With `budget_vs_teacher`: export and time the teacher like a candidate; the budget is
    that fraction of its latency (the config returned carries it as `budget_ms`)."""
    if config.budget_vs_teacher is None:
        return config, None
    weights = resolve_model_path(config.teacher, ("teacher", "student"))
    teacher = Candidate(read_card(weights).arch)
    folder = Path(config.out_dir) / "teacher-export"
    progress.log(
        f"teacher {teacher.arch}: ONNX export and timing, for the budget ({config.budget_vs_teacher:g} × its latency)"
    )
    teacher.onnx = export_candidate(
        weights, folder, int8_calib=calib, exporter=config.exporter, threads=config.threads, progress=SilentProgress()
    )
    _time_candidates(config, [teacher], progress)
    budget = config.budget_vs_teacher * teacher.latency_ms
    progress.log(f"budget: {config.budget_vs_teacher:g} × {teacher.latency_ms:.3f} ms = {budget:.4f} ms")
    return replace(config, budget_ms=budget), {
        "arch": teacher.arch,
        "onnx": str(teacher.onnx["fp32"]),
        "latency": teacher.latency,
        "latency_ms": teacher.latency_ms,
        "precision": teacher.precision,
    }


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} %"


def _halve(
    config: StudentsConfig, feasible: list[Candidate], img_size: int, progress: Progress, cost: dict[str, float]
) -> Candidate:
    """Successive halving over the feasible candidates; returns the finalist (fully distilled).

    `cost` receives the wall seconds of each rung (`rung_0`, …) and of the `finalist` run."""
    alive = list(feasible)
    schedule = halving.rung_epochs(len(alive), config.epochs, config.first_rung_epochs, config.rung_budget)
    progress.log(
        f"successive halving: {len(alive)} candidates, rungs of {schedule or '–'} epochs "
        f"({halving.rung_cost(schedule, len(alive))} candidate-epochs, "
        f"budget {config.rung_budget:g} × {config.epochs}), "
        f"finalist {config.epochs} epochs"
    )
    for rung, epochs in enumerate(schedule):
        rung_started = time.perf_counter()
        for candidate in alive:
            candidate.rungs.append({"rung": rung, **distil(config, candidate.arch, epochs, img_size, progress)})
        scores = [halving.Score(c.arch, c.val_top1, c.latency_ms) for c in alive]
        keep = set(halving.better_half(scores))
        for candidate in alive:
            if candidate.arch not in keep:
                candidate.decision = (
                    f"stopped after rung {rung} ({epochs} epochs): val top-1 {_pct(candidate.val_top1)} is in the "
                    "worse half"
                )
        alive = [c for c in alive if c.arch in keep]
        cost[f"rung_{rung}"] = time.perf_counter() - rung_started
        standings = ", ".join(f"{s.arch} {_pct(s.val_top1)}" for s in halving.ranked(scores))
        progress.log(
            f"rung {rung} ({epochs} epochs), val top-1: {standings} → {', '.join(c.arch for c in alive)} go on"
        )
    finalist = alive[0]
    finalist_started = time.perf_counter()
    finalist.rungs.append({"rung": len(schedule), **distil(config, finalist.arch, config.epochs, img_size, progress)})
    cost["finalist"] = time.perf_counter() - finalist_started
    finalist.decision = (
        f"chosen: the best on val within {config.budget_ms:.4g} ms, fully distilled ({config.epochs} epochs)"
    )
    return finalist


def _better_on_val(finalist: Candidate, baseline: Candidate, config: StudentsConfig) -> Candidate:
    """The one to ship of two fully distilled students: the baseline when it fits the budget and
    beats the finalist on val (the halving ranked on short runs, which can misorder two close
    candidates; the full runs decide). Never the test split: that is for reporting."""
    fits = baseline.latency_ms is not None and baseline.latency_ms <= config.budget_ms
    if not fits or baseline.val_top1 is None or finalist.val_top1 is None or baseline.val_top1 <= finalist.val_top1:
        return finalist
    finalist.decision = (
        f"finalist of the halving ({config.epochs} epochs, val top-1 {_pct(finalist.val_top1)}), not shipped: the "
        f"baseline {baseline.arch} is better on val ({_pct(baseline.val_top1)})"
    )
    baseline.decision = (
        f"chosen: the baseline, fully distilled ({config.epochs} epochs) within {config.budget_ms:.4g} ms, beat the "
        f"halving's finalist {finalist.arch} on val ({_pct(baseline.val_top1)} vs {_pct(finalist.val_top1)})"
    )
    return baseline


def _payload(
    config: StudentsConfig, candidates: list[Candidate], img_size: int, dataset: Dataset, extra: dict[str, Any]
) -> dict[str, Any]:
    facts = system_facts()
    return {
        "schema": STUDENTS_SCHEMA,
        "config": config.describe(),
        "img_size": img_size,
        "budget": {
            "ms": config.budget_ms,
            "batch": config.batch,
            "percentile": config.percentile,
            "target": config.target,
            "vs_teacher": config.budget_vs_teacher,
        },
        "data": dataset.describe(),
        "candidates": [c.to_dict() for c in candidates],
        "flops_vs_latency": latency.flops_vs_latency(candidates),
        "machine": {
            "cpu": facts["cpu_model"],
            "threads": config.threads,
            "fingerprint": facts["fingerprint"],
            "onnxruntime": facts["onnxruntime"],
            "torch": facts["torch"],
        },
        **extra,
        "provenance": provenance(config.describe(), seed=config.seed),
    }


def _write(config: StudentsConfig, payload: dict[str, Any], progress: Progress) -> Path:
    out = Path(config.out_dir)
    StudentsFile.from_payload(payload, "students.json")  # a bug here must not ship a file its readers refuse
    write_json(out / "students.json", payload)
    missing = plot_unavailable()  # the plot is optional: the search's figures are all in the json and md
    if missing:
        progress.log(missing)
    else:
        atomic_write_text(out / "students.svg", students_svg(payload))
    atomic_write_text(out / "students.md", render(payload, plotted=not missing))
    return out / "students.json"


def run(config: StudentsConfig, progress: Progress | None = None) -> StudentsResult:
    """Search the candidates and distil the best one within the budget.

    Args:
        config: the search's options (see `StudentsConfig`).
        progress: receives log lines and the distill runs' progress; None is silent.

    Raises:
        ConfigError: bad options.
        NoCandidateWithinBudget: students.json is still written; the message names the fastest
            measured candidate and its latency.
    """
    started = time.perf_counter()
    config = config.validate()
    progress = progress or SilentProgress()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        img_size = search_img_size(config)
        dataset = config.data.load(img_size)
        searched_names = resolve_candidates(config.candidates)
        names = searched_names + (
            [config.baseline] if config.baseline and config.baseline not in searched_names else []
        )
        Path(config.out_dir).mkdir(parents=True, exist_ok=True)
        calib = int8_calibration(config, dataset)
        # Wall seconds per phase (students.json `cost`): where the search's time went.
        cost: dict[str, float] = {}
        phase_started = time.perf_counter()
        config, teacher_latency = _teacher_budget(config, calib, progress)
        cost["teacher_budget"] = time.perf_counter() - phase_started
        phase_started = time.perf_counter()
        candidates = []
        progress.start("candidates: cost + ONNX export (parity gate)", len(names))
        for arch in names:
            candidates.append(
                prepare(
                    arch,
                    dataset,
                    img_size,
                    Path(config.out_dir) / "candidates",
                    seed=config.seed,
                    int8_calib=None,  # INT8 after FP32 timing, only where it can change the verdict
                    exporter=config.exporter,
                    threads=config.threads,
                    progress=SilentProgress(),
                )
            )
            if candidates[-1].dropped:
                progress.log(f"{arch}: dropped, {candidates[-1].dropped}")
            progress.advance(1, candidate=arch)
        progress.finish({"candidates": len(names), "exported": sum(not c.dropped for c in candidates)})
        cost["export"] = time.perf_counter() - phase_started
        phase_started = time.perf_counter()
        _time_candidates(config, candidates, progress)
        cost["timing"] = time.perf_counter() - phase_started
        if calib is not None:
            phase_started = time.perf_counter()
            int8.time_where_it_matters(config, candidates, calib, dataset, progress)
            cost["int8"] = time.perf_counter() - phase_started
        for candidate in candidates:
            if candidate.dropped:
                candidate.decision = f"dropped: {candidate.dropped}"
            elif candidate.latency_ms > config.budget_ms:
                candidate.decision = f"over budget: {candidate.latency_ms:.3f} ms > {config.budget_ms:.4g} ms"
        feasible = [
            c for c in candidates if c.arch in searched_names and not c.dropped and c.latency_ms <= config.budget_ms
        ]
        if not feasible:
            timed = [c for c in candidates if c.latency_ms is not None]
            int8.note_in_decisions(candidates)
            _write(
                config,
                _payload(
                    config,
                    candidates,
                    img_size,
                    dataset,
                    {
                        "chosen": None,
                        "teacher_latency": teacher_latency,
                        "wall_time_s": time.perf_counter() - started,
                        "cost": cost,
                    },
                ),
                progress,
            )
            if not timed:
                raise ConfigError("no candidate exported and was timed; see students.json for why each was dropped.")
            fastest = min(timed, key=lambda c: c.latency_ms)
            raise NoCandidateWithinBudget(
                f"no candidate within {config.budget_ms:.4g} ms ({config.percentile}, batch {config.batch}, "
                f"{config.target}): the fastest measured is "
                f"{fastest.arch} at {fastest.latency_ms:.3f} ms ({fastest.precision}); raise --budget-ms or add "
                f"faster --candidates (table in {Path(config.out_dir) / 'students.md'})."
            )
        finalist = _halve(config, feasible, img_size, progress, cost)
        # The search ends with the finalist's run. The baseline after it is the comparison the user
        # asked for (its cost is `cost["baseline"]`), shipped instead only when its full run is better.
        search_wall = time.perf_counter() - started
        chosen = finalist
        baseline = next((c for c in candidates if c.arch == config.baseline), None)
        if baseline is not None and baseline is not finalist and not baseline.dropped:
            phase_started = time.perf_counter()
            baseline.rungs.append(
                {"rung": "baseline", **distil(config, baseline.arch, config.epochs, img_size, progress)}
            )
            baseline.decision = (
                baseline.decision + "; " if baseline.decision else ""
            ) + f"baseline: fully distilled with the same recipe ({config.epochs} epochs) for comparison"
            cost["baseline"] = time.perf_counter() - phase_started
            chosen = _better_on_val(finalist, baseline, config)
        runs = [r for c in candidates for r in c.rungs]
        passes = teacher_passes(config, runs, sum(1 for split in (dataset.val, dataset.test) if len(split)))
        progress.log(
            f"teacher forward passes: {passes['views_computed']} views ({passes['training_views_computed']} "
            f"training epochs + {passes['eval_views_computed']} eval splits) for {len(feasible)} candidates in "
            f"{passes['runs']} runs; {passes['training_batches']} training batches"
        )
        wall = time.perf_counter() - started
        chosen_run, finalist_run = chosen.rungs[-1], finalist.rungs[-1]
        ratio = search_wall / finalist_run["wall_time_s"] if finalist_run["wall_time_s"] else None
        if ratio is not None:
            progress.log(
                f"search cost: {search_wall:.1f} s of wall time, {ratio:.2f} × the finalist's own full run "
                f"({finalist_run['wall_time_s']:.1f} s)"
            )
        extra = {
            "chosen": {
                "arch": chosen.arch,
                "run_dir": chosen_run["run"],
                "latency_ms": chosen.latency_ms,
                "precision": chosen.precision,
                "val_top1": chosen_run["val_top1"],
                "test_top1": chosen_run["test_top1"],
            },
            "baseline": None
            if baseline is None
            else {
                "arch": baseline.arch,
                "latency_ms": baseline.latency_ms,
                "val_top1": baseline.val_top1,
                "test_top1": baseline.rungs[-1]["test_top1"] if baseline.rungs else None,
            },
            "teacher_forward": passes,
            "teacher_latency": teacher_latency,
            "wall_time_s": wall,
            "search_wall_time_s": search_wall,
            "cost": cost,
            "distill_wall_time_s": sum(r["wall_time_s"] or 0 for r in {r["run"]: r for r in runs}.values()),
            "finalist_run_wall_time_s": finalist_run["wall_time_s"],
            "search_vs_finalist_run": ratio,
        }
        int8.note_in_decisions(candidates)
        payload = _payload(config, candidates, img_size, dataset, extra)
        path = _write(config, payload, progress)
        return StudentsResult(chosen.arch, Path(chosen_run["run"]), candidates, path, payload)
    finally:
        torch.set_num_threads(previous_threads)
