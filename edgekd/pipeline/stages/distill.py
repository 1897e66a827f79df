"""Pipeline stage `distill:`: one student run per (method entry, seed), all from the same teacher.

An entry with `quantize:` is quantization-aware distillation (`edgekd distill --quantize`) of the
run its `from:` names, same seed: that run comes earlier in `methods`, its student's files are
the QAD run's inputs (retraining it reruns QAD), and its lr/epochs default to QAD's short,
gentle schedule instead of the section's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edgekd import distill as distill_stage
from edgekd.distill import DistillConfig
from edgekd.distill.qad import QAD_SCHEDULE, SELF_TEACHER, QadRun
from edgekd.engine import Progress
from edgekd.errors import ConfigError, EdgekdError
from edgekd.pipeline.distill_section import DistillSectionBase, MethodRunBase
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import artefact_inputs, data_identity, local_file, section_error, without
from edgekd.students import pipeline_stage as auto_student

consumes = ("teacher",)


def run_name(entry: MethodRunBase, seed: int, seeds: list[int]) -> str:
    """`kd`, or `kd-s1` when the pipeline runs several seeds; an entry's `name` replaces the method."""
    base = entry.name or entry.method
    return base if len(seeds) == 1 else f"{base}-s{seed}"


def quantized_runs(section: DistillSectionBase) -> set[str]:
    """The run names of the QAD entries (export gives them their own TensorRT INT8)."""
    return {
        run_name(entry, seed, section.seeds) for entry in section.methods if entry.quantize for seed in section.seeds
    }


def _config(
    section: DistillSectionBase,
    entry: MethodRunBase,
    seed: int,
    ctx: PlanContext,
    out_dir,
    from_weights: Path | None = None,
    calib: Path | None = None,
) -> DistillConfig:
    """The DistillConfig of one run: the section's keys, then the entry's overrides (a method's
    options only reach the methods that declare them)."""
    qad = QAD_SCHEDULE if entry.quantize else {}
    train = section.model_copy(
        update={**qad, **{k: getattr(entry, k) for k in ("lr", "epochs") if getattr(entry, k) is not None}}
    )
    teacher = str(from_weights) if entry.teacher == SELF_TEACHER else str(ctx.teacher().path)
    return DistillConfig(
        student=section.student,
        out_dir=out_dir,
        teacher=(teacher,),
        method=entry.method,
        quantize=entry.quantize,
        from_run=from_weights,
        calib=calib,
        data=ctx.pipeline.data.to_config(),
        train=train.train_config(seed=seed),
        method_options=section.method_options(entry),
        teacher_cache=ctx.stage_dir("distill") / "teacher-cache" if section.teacher_cache else None,
        **section.model_options(label_smoothing=entry.label_smoothing),
        drop_classes=tuple(section.drop_classes),
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
    runs, seen, bases = [], {}, {}
    for index, entry in enumerate(section.methods):
        start, calib = _qad_inputs(ctx, section, entry, index, bases)
        bases[entry.name or entry.method] = entry
        for seed in section.seeds:
            run_id = run_name(entry, seed, section.seeds)
            if run_id in seen:
                raise ConfigError(
                    f"{ctx.pipeline.where('distill', 'methods', index)}: two distill runs are named '{run_id}'; "
                    "give one a 'name:'."
                )
            seen[run_id] = entry
            out_dir = ctx.stage_dir("distill") / run_id
            from_weights = (
                ctx.stage_dir("distill") / run_name(start, seed, section.seeds) / "student.safetensors"
                if start
                else None
            )
            config = _config(section, entry, seed, ctx, out_dir, from_weights, calib)
            try:
                config.validate()
                config.train.validate()
            except EdgekdError as exc:
                raise section_error(ctx.pipeline, exc, "distill", "methods", index) from None
            inputs = {**data_files, **artefact_inputs(teacher)}
            if from_weights is not None:  # the FP32 student it starts from, and the ranges' images
                inputs.update(
                    {
                        "fp32 student": from_weights,
                        "fp32 student.card": from_weights.with_suffix(".json"),
                        "calibration spec": calib,
                    }
                )
            pretrained = local_file(section.pretrained)
            if pretrained is not None:
                inputs["pretrained"] = pretrained
            runs.append(_run(run_id, out_dir, config, inputs, data_facts))
    if len(runs) == 1:  # one student: call it that, in eval/profile folders and the plan
        runs[0].artefacts = [replace(a, name="student") for a in runs[0].artefacts]
    return runs


def _qad_inputs(
    ctx: PlanContext, section: DistillSectionBase, entry: MethodRunBase, index: int, bases: dict[str, MethodRunBase]
) -> tuple[MethodRunBase | None, Path | None]:
    """For a QAD entry: the earlier FP32 entry its `from` names and its calibration spec."""
    if not entry.quantize:
        return None, None
    where = ctx.pipeline.where("distill", "methods", index, "from")
    start = bases.get(entry.from_run)
    if start is None:
        raise ConfigError(
            f"{where}: 'from: {entry.from_run}' names no earlier run of 'distill.methods' (earlier: "
            f"{', '.join(bases) or 'none'}); list the FP32 run first."
        )
    if start.quantize:
        raise ConfigError(f"{where}: 'from: {entry.from_run}' is itself a QAD run; start from the FP32 one.")
    try:
        calib = Path(entry.calib) if entry.calib else QadRun._default_calib(ctx.pipeline.data.spec)
    except EdgekdError as exc:
        raise section_error(ctx.pipeline, exc, "distill", "methods", index) from None
    if not calib.is_file():
        raise ConfigError(
            f"{ctx.pipeline.where('distill', 'methods', index, 'calib')}: calibration spec not found: {calib} "
            "(paths are relative to where you run edgekd)."
        )
    return start, calib


def _run(run_id: str, out_dir, config: DistillConfig, inputs, data_facts) -> StageRun:
    weights = out_dir / "student.safetensors"

    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = distill_stage.run(replace(config, resume=resume), progress)
        test = (result.card.metrics.get("test") or {}).get("top1")
        summary = (
            f"{config.method} → {config.student}: test top-1 {test:.2f} %"
            if test is not None
            else f"{config.method} → {config.student}"
        )
        return RunOutcome(outputs=[result.weights_path, result.weights_path.with_suffix(".json")], summary=summary)

    # Where the teacher lives and where the cache sits do not change the student: hash the
    # teacher by its files (inputs) and leave the paths out.
    payload = {
        "distill": without(config.describe(), "out_dir", "teacher", "teacher_cache", "resume"),
        "teacher_cache": config.teacher_cache is not None,
        **data_facts,
    }
    if config.quantize:  # QAD: the FP32 student and the spec are hashed by their files (inputs); who teaches is config
        payload["distill"] = without(payload["distill"], "from_run", "calib")
        payload["self_teacher"] = config.teacher == (str(config.from_run),)
    qad = f" QAD {config.quantize} from {config.from_run.parent.name}," if config.quantize else ""
    description = f"{config.method}{qad} {config.student}, seed {config.train.seed}, {config.train.epochs} epochs"
    return StageRun(
        "distill",
        run_id,
        out_dir,
        payload,
        inputs,
        action,
        [Artefact(f"student-{run_id}", "student", weights, f"distill/{run_id}")],
        description=description,
    )
