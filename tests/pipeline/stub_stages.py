"""Stand-in stages for testing the runner's caching logic in milliseconds.

Each writes a small file whose content depends on its config and inputs (so an upstream
change really changes downstream inputs) and counts its executions. They live in the tests
only; the shipped stages are in `edgekd.pipeline.stages`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from edgekd.pipeline import Artefact, PlanContext, RunOutcome, StageRun

executions: Counter = Counter()


def _write(path: Path, config: dict, inputs: dict[str, Path]) -> None:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(inputs):
        digest.update(inputs[name].read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(digest.hexdigest())


def _run(
    ctx: PlanContext,
    stage: str,
    run_id: str,
    config: dict,
    inputs: dict[str, Path],
    filename: str,
    role: str | None,
    unknown: bool = False,
    fail: bool = False,
    name: str | None = None,
) -> StageRun:
    out_dir = ctx.stage_dir(stage) if run_id == stage else ctx.stage_dir(stage) / run_id
    target = out_dir / filename
    artefact = Artefact(name or run_id, role, target, f"{stage}/{run_id}") if role else None

    def action(progress, resume) -> RunOutcome:
        executions[f"{stage}/{run_id}" if run_id != stage else stage] += 1
        if fail:
            raise RuntimeError("stub failure")
        _write(target, config, inputs)
        return RunOutcome(
            outputs=[target],
            artefacts=[artefact] if artefact else [],
            summary=f"{stage} done",
            passed=True if stage == "gate" else None,
        )

    return StageRun(
        stage,
        run_id,
        out_dir,
        config,
        inputs,
        action,
        [] if unknown or not artefact else [artefact],
        expected_outputs=[] if role else [target],
        artefacts_unknown=unknown,
    )


def teacher(ctx):
    return [_run(ctx, "teacher", "teacher", ctx.pipeline.teacher.model_dump(), {}, "teacher.bin", "teacher")]


def distill(ctx):
    section = ctx.pipeline.distill
    teacher = ctx.teacher()
    return [
        _run(
            ctx,
            "distill",
            f"{m.method}-s{seed}",
            {"m": m.model_dump(), "seed": seed, "epochs": section.epochs},
            {"teacher": teacher.path},
            "student.bin",
            "student",
            name=f"student-{m.method}-s{seed}",
        )
        for m in section.methods
        for seed in section.seeds
    ]


def export(ctx):
    section = ctx.pipeline.export
    return [
        _run(
            ctx,
            "export",
            a.name,
            section.model_dump(),
            {"student": a.path},
            "model.onnx",
            "artefact",
            unknown=True,
            name=f"{a.name}.onnx",
        )
        for a in ctx.artefacts["distill"]
    ]


def per_artefact(stage):
    def plan(ctx):
        section = getattr(ctx.pipeline, stage)
        arts = ctx.all_artefacts("teacher", "distill", "export")
        return [
            _run(ctx, stage, a.name, section.model_dump(), {"artefact": a.path}, f"{stage}.json", None) for a in arts
        ]

    return plan


def report(ctx):
    files = ctx.outputs.get("eval", []) + ctx.outputs.get("profile", [])
    return [_run(ctx, "report", "report", {}, {f"f{i}": p for i, p in enumerate(files)}, "report.json", None)]


def gate(ctx):
    return [
        _run(
            ctx, "gate", "gate", ctx.pipeline.gate.model_dump(), {"report": ctx.outputs["report"][0]}, "gate.json", None
        )
    ]


def planners(**overrides):
    table = {
        "teacher": teacher,
        "distill": distill,
        "export": export,
        "eval": per_artefact("eval"),
        "profile": per_artefact("profile"),
        "report": report,
        "gate": gate,
    }
    table.update(overrides)
    return table
