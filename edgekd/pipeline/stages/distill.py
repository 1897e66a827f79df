"""Pipeline stage `distill:`: one student run per (method entry, seed), all from the same teacher."""

from __future__ import annotations

from dataclasses import replace

from edgekd.distill import DistillConfig, distill
from edgekd.engine import Progress
from edgekd.errors import ConfigError, EdgekdError
from edgekd.pipeline.config import DistillSectionBase, MethodRunBase
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.students import pipeline_stage as auto_student
from edgekd.pipeline.stages.common import artefact_inputs, data_identity, local_file, section_error, without

consumes = ("teacher",)


def run_name(entry: MethodRunBase, seed: int, seeds: list[int]) -> str:
    """`kd`, or `kd-s1` when the pipeline runs several seeds; an entry's `name` replaces the method."""
    base = entry.name or entry.method
    return base if len(seeds) == 1 else f"{base}-s{seed}"


def _config(section: DistillSectionBase, entry: MethodRunBase, seed: int, ctx: PlanContext, out_dir) -> DistillConfig:
    """The DistillConfig of one run: the section's keys, then the entry's overrides (a method's
    options only reach the methods that declare them)."""
    train = section.model_copy(update={k: getattr(entry, k) for k in ("lr", "epochs") if getattr(entry, k) is not None})
    return DistillConfig(
        student=section.student, out_dir=out_dir, teacher=(str(ctx.teacher().path),), method=entry.method,
        data=ctx.pipeline.data.to_config(), train=train.train_config(seed=seed),
        method_options=section.method_options(entry), mix=section.mix, mix_alpha=section.mix_alpha,
        teacher_cache=ctx.stage_dir("distill") / "teacher-cache" if section.teacher_cache else None,
        img_size=section.img_size, pretrained=section.pretrained, in_chans=section.in_chans,
        label_smoothing=entry.label_smoothing if entry.label_smoothing is not None else section.label_smoothing, device=section.device,
        transfer_data=section.transfer_data, transfer_ratio=section.transfer_ratio, limit_transfer=section.limit_transfer,
        drop_classes=tuple(section.drop_classes), bias_adjust=section.bias_adjust,
    )


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.distill
    teacher = ctx.teacher()
    try:
        data_files, data_facts = data_identity(ctx.pipeline.data.to_config())
    except EdgekdError as exc:
        raise section_error(ctx.pipeline, exc, "data") from None
    if section.student == "auto":
        return [auto_student.plan_search(ctx, section, {**data_files, **artefact_inputs(teacher)}, data_facts)]
    runs, seen = [], {}
    for index, entry in enumerate(section.methods):
        for seed in section.seeds:
            run_id = run_name(entry, seed, section.seeds)
            if run_id in seen:
                raise ConfigError(f"{ctx.pipeline.where('distill', 'methods', index)}: two distill runs are named '{run_id}'; give one a 'name:'.")
            seen[run_id] = entry
            out_dir = ctx.stage_dir("distill") / run_id
            config = _config(section, entry, seed, ctx, out_dir)
            try:
                config.validate()
                config.train.validate()
            except EdgekdError as exc:
                raise section_error(ctx.pipeline, exc, "distill", "methods", index) from None
            inputs = {**data_files, **artefact_inputs(teacher)}
            pretrained = local_file(section.pretrained)
            if pretrained is not None:
                inputs["pretrained"] = pretrained
            runs.append(_run(run_id, out_dir, config, inputs, data_facts))
    if len(runs) == 1:  # one student: call it that, in eval/profile folders and the plan
        runs[0].artefacts = [replace(a, name="student") for a in runs[0].artefacts]
    return runs


def _run(run_id: str, out_dir, config: DistillConfig, inputs, data_facts) -> StageRun:
    weights = out_dir / "student.safetensors"

    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = distill(replace(config, resume=resume), progress)
        test = (result.card.metrics.get("test") or {}).get("top1")
        summary = f"{config.method} → {config.student}: test top-1 {test:.2f} %" if test is not None else f"{config.method} → {config.student}"
        return RunOutcome(outputs=[result.weights_path, result.weights_path.with_suffix(".json")], summary=summary)

    # Where the teacher lives and where the cache sits do not change the student: hash the
    # teacher by its files (inputs) and leave the paths out.
    payload = {"distill": without(config.describe(), "out_dir", "teacher", "teacher_cache", "resume"), "teacher_cache": config.teacher_cache is not None, **data_facts}
    description = f"{config.method} {config.student}, seed {config.train.seed}, {config.train.epochs} epochs"
    return StageRun("distill", run_id, out_dir, payload, inputs, action, [Artefact(f"student-{run_id}", "student", weights, f"distill/{run_id}")], description=description)
