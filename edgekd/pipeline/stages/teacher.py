"""Pipeline stage `teacher:`: train one (`arch`), or use an existing teacher (`path`)."""

from __future__ import annotations

from dataclasses import replace

from edgekd import teacher as teacher_stage
from edgekd.engine import Progress
from edgekd.errors import EdgekdError
from edgekd.models import resolve_model_path
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import data_identity, local_file, section_error, without
from edgekd.teacher import TeacherConfig

NAME = "teacher"


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.teacher
    out_dir = ctx.stage_dir("teacher")
    if section.path is not None:
        try:
            path = resolve_model_path(section.path, ("teacher", "student"))
        except EdgekdError as exc:
            raise section_error(ctx.pipeline, exc, "teacher", "path") from exc
        artefact = Artefact(NAME, "teacher", path, "given")
        return [
            StageRun(
                "teacher", "teacher", out_dir, {"path": str(path)}, {}, None, [artefact], description=f"using {path}"
            )
        ]

    data = ctx.pipeline.data.to_config()
    config = TeacherConfig(
        arch=section.arch,
        out_dir=out_dir,
        data=data,
        train=section.train_config(),
        img_size=section.img_size,
        pretrained=section.pretrained,
        in_chans=section.in_chans,
        label_smoothing=section.label_smoothing,
        device=section.device,
    )
    try:
        config.train.validate()
        data_files, data_facts = data_identity(data)
    except EdgekdError as exc:
        raise section_error(ctx.pipeline, exc, "teacher") from exc
    inputs = dict(data_files)
    pretrained = local_file(section.pretrained)
    if pretrained is not None:
        inputs["pretrained"] = pretrained
    weights = out_dir / "teacher.safetensors"

    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = teacher_stage.run(replace(config, resume=resume), progress)
        test = (result.card.metrics.get("test") or {}).get("top1")
        summary = f"{section.arch}: test top-1 {test:.2f} %" if test is not None else section.arch
        return RunOutcome(outputs=[result.weights_path, result.weights_path.with_suffix(".json")], summary=summary)

    payload = {"teacher": without(config.describe(), "out_dir"), **data_facts}
    description = f"train {section.arch} for {section.epochs} epochs at {section.img_size} px on {data.spec}"
    return [
        StageRun(
            "teacher",
            "teacher",
            out_dir,
            payload,
            inputs,
            action,
            [Artefact(NAME, "teacher", weights, "teacher")],
            description=description,
        )
    ]
