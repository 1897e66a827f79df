"""Pipeline stage `report:`: report.json / .md / .html over every eval.json and profile.json.

The report is given exactly the files this pipeline made (artefacts, eval.json, profile.json,
training logs), never whole folders, so a stale file left in a run folder cannot slip in.
"""

from __future__ import annotations

from edgekd import report as report_stage
from edgekd.engine import Progress
from edgekd.pipeline.plan import PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import artefact_inputs, without
from edgekd.report.build import ReportConfig

consumes = ("teacher", "distill", "export", "eval", "profile")


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.report
    out_dir = ctx.stage_dir("report")
    artefacts = ctx.all_artefacts("teacher", "distill", "export")
    results = [*ctx.outputs.get("eval", []), *ctx.outputs.get("profile", [])]
    # Training logs: those the pipeline's own training runs write, and a given teacher's if it has one.
    curves = [a.path.parent / "metrics.jsonl" for a in artefacts if a.role in ("teacher", "student")]
    curves = [
        p
        for p, a in zip(curves, [a for a in artefacts if a.role in ("teacher", "student")])
        if a.source != "given" or p.exists()
    ]
    teacher = ctx.teacher()
    config = ReportConfig(
        inputs=tuple([a.path for a in artefacts] + results + curves),
        out_dir=out_dir,
        teacher=teacher.path if teacher else None,
        title=section.title or f"edgekd report: {ctx.pipeline.name}",
    )
    inputs = {**artefact_inputs(*artefacts), **{f"{p.parent.name}/{p.name}": p for p in results + curves}}
    report_json = out_dir / "report.json"

    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = report_stage.run(config, progress)
        students = [c for c in result.report.comparisons if c.top1_delta is not None]
        summary = f"{len(result.report.models)} models"
        if students:
            best = max(students, key=lambda c: c.top1_delta)
            summary += f"; best Δtop-1 vs teacher {best.top1_delta:+.2f} pts ({best.model})"
        return RunOutcome(outputs=[result.json_path, result.markdown_path, result.html_path], summary=summary)

    payload = {"report": without(config.describe(), "inputs", "out_dir", "teacher")}
    return [
        StageRun(
            "report",
            "report",
            out_dir,
            payload,
            inputs,
            action,
            description=f"{len(results)} eval/profile files",
            expected_outputs=[report_json],
        )
    ]
