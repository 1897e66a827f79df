"""Pipeline stage `eval:`: score the teacher, every student and every exported artefact.

The teacher is scored first; every other run reuses its eval.json for the agreement figure
(so the teacher runs once), which also makes the teacher's eval.json one of their inputs.
"""

from __future__ import annotations

from edgekd import evaluate as evaluate_stage
from edgekd.engine import Progress
from edgekd.errors import EdgekdError
from edgekd.evaluate import EvalConfig
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import artefact_inputs, section_error, without

consumes = ("teacher", "distill", "export")


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.eval
    teacher = ctx.teacher()
    runs = []
    teacher_eval = None
    for artefact in ctx.all_artefacts(*consumes):
        out_dir = ctx.stage_dir("eval") / artefact.name
        uses_teacher = teacher is not None and artefact is not teacher
        config = EvalConfig(
            artefact=artefact.path,
            out_dir=out_dir,
            split=section.split,
            teacher=teacher_eval if uses_teacher else None,
            device=section.device,
            threads=section.threads,
            batch_size=section.batch_size,
        )
        try:
            config.validate()
        except EdgekdError as exc:
            raise section_error(ctx.pipeline, exc, "eval") from exc
        inputs = artefact_inputs(artefact)
        if uses_teacher:
            inputs["teacher eval.json"] = teacher_eval
        runs.append(_run(artefact, config, inputs))
        if artefact is teacher:
            teacher_eval = out_dir / "eval.json"
    return runs


def _run(artefact: Artefact, config: EvalConfig, inputs) -> StageRun:
    eval_json = config.out_dir / "eval.json"

    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = evaluate_stage.run(config, progress)
        agreement = (result.payload.get("teacher") or {}).get("agreement")
        summary = f"top-1 {result.top1:.2f} %" + (f", agreement {agreement:.2f} %" if agreement is not None else "")
        return RunOutcome(outputs=[result.path], summary=summary)

    payload = {
        "eval": without(config.describe(), "artefact", "out_dir", "teacher"),
        "with_teacher": config.teacher is not None,
    }
    return StageRun(
        "eval",
        artefact.name,
        config.out_dir,
        payload,
        inputs,
        action,
        description=f"{config.split} split of {artefact.path}",
        expected_outputs=[eval_json],
    )
