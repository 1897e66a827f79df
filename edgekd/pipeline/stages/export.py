"""Pipeline stage `export:`: `edgekd export` for each student (one run per distill run).

The files are named after the student (`student.onnx`, `student.int8-cpu.onnx`, or
`student-kd-s1.onnx` when several students are exported), so the report and the gate show
names a person recognises. The calibration spec is an input: editing it reruns the export.
A QAD student (`distill.methods: [{quantize: int8, from: kd}]`) gets its TensorRT INT8 from its
own quantizers (`edgekd.export.qdq`), so ONNX Runtime PTQ makes only its other targets.
"""

from __future__ import annotations

from pathlib import Path

from edgekd import export as export_stage
from edgekd.engine import Progress
from edgekd.errors import ConfigError, EdgekdError
from edgekd.export import ExportConfig
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import artefact_inputs, section_error, without
from edgekd.pipeline.stages.distill import quantized_runs

QAD_TARGET = "tensorrt"  # what edgekd.export.qdq writes for a QAD student
# The keys `ExportConfig` refuses without --int8 (a QAD student whose only PTQ target was TensorRT).
INT8_ONLY_KEYS = ("calib", "int8_target", "max_drop", "exclude_nodes", "exclude_op_types")

consumes = ("distill",)
DEPLOYABLE_KINDS = ("onnx", "tensorrt")


def _students(ctx: PlanContext) -> list[Artefact]:
    section = ctx.pipeline.export
    students = ctx.artefacts.get("distill", [])
    run_ids = [s.source.split("/", 1)[-1] for s in students]
    unknown = [name for name in section.students if name not in run_ids]
    if unknown:
        raise ConfigError(
            f"{ctx.pipeline.where('export', 'students')}: 'export.students' names '{unknown[0]}', which is not a "
            f"distill run (runs: {', '.join(run_ids)})."
        )
    return [s for s, run_id in zip(students, run_ids) if not section.students or run_id in section.students]


def _qad_options(options: dict, config: ExportConfig) -> dict:
    """A QAD student's export options: the section's, less the PTQ TensorRT target."""
    targets = tuple(t for t in config.int8_targets if t != QAD_TARGET)
    if targets:
        return {**options, "int8_target": targets}
    return {k: v for k, v in options.items() if k not in INT8_ONLY_KEYS} | {"int8": False}


def _expected(config: ExportConfig, out_dir: Path, name: str, source: str, qad: bool = False) -> list[Artefact]:
    """The ONNX files export will write (TensorRT engines are only known once built)."""
    targets = ((QAD_TARGET,) if qad else ()) + config.int8_targets
    files = (
        [f"{name}.onnx"] + ([f"{name}.fp16.onnx"] if config.fp16 else []) + [f"{name}.int8-{t}.onnx" for t in targets]
    )
    return [Artefact(f, "artefact", out_dir / f, source) for f in files]


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.export
    students = _students(ctx)
    single = len(students) == 1  # what ships is `student.onnx`, however many students were trained beside it
    inputs_extra = {}
    if section.calib is not None:
        calib = Path(section.calib)
        if not calib.is_file():
            raise ConfigError(
                f"{ctx.pipeline.where('export', 'calib')}: 'export.calib': calibration spec not found: {calib} "
                "(paths are relative to where you run edgekd)."
            )
        inputs_extra["calibration spec"] = calib
    qad_runs = quantized_runs(ctx.pipeline.distill)
    runs = []
    for student in students:
        run_id = student.source.split("/", 1)[-1]
        out_dir = ctx.stage_dir("export") / run_id
        name = "student" if single else f"student-{run_id}"
        qad = run_id in qad_runs
        try:
            config = ExportConfig(checkpoint=student.path, out=out_dir, name=name, **section.options()).validate()
            if qad:
                config = ExportConfig(
                    checkpoint=student.path, out=out_dir, name=name, **_qad_options(section.options(), config)
                ).validate()
        except (EdgekdError, TypeError) as exc:
            raise section_error(
                ctx.pipeline, exc if isinstance(exc, EdgekdError) else ConfigError(str(exc)), "export"
            ) from exc
        source = f"export/{run_id}"
        expected = _expected(config, out_dir, name, source, qad)
        runs.append(_run(run_id, config, {**artefact_inputs(student), **inputs_extra}, expected, source))
    return runs


def _run(run_id: str, config: ExportConfig, inputs, expected: list[Artefact], source: str) -> StageRun:
    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = export_stage.run(config, progress)
        produced = [
            Artefact(r.path.name, "artefact", r.path, source) for r in result.artefacts if r.kind in DEPLOYABLE_KINDS
        ]
        written = [r.path for r in result.artefacts] + [result.summary_path]
        parts = [f"{r.path.name} ({r.size_bytes / 1e6:.2f} MB)" for r in result.artefacts if r.kind in DEPLOYABLE_KINDS]
        return RunOutcome(outputs=written, artefacts=produced, summary=", ".join(parts))

    payload = {"export": without(config.describe(), "checkpoint", "out", "calib"), "calib": config.calib is not None}
    description = ", ".join(a.name for a in expected) + (" + TensorRT engines" if config.trt else "")
    return StageRun(
        "export",
        run_id,
        config.out,
        payload,
        inputs,
        action,
        expected,
        description=description,
        artefacts_unknown=config.trt,
    )
